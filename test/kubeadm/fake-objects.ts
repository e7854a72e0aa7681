// An in-memory KubePort for ConfigMaps and RBAC only (what kubelet-config and kubeadm-config code use).
// Create is create-if-missing like the real adapter; everything else throws so a stray call is noticed.
import type { ConfigMapView, KubePort, RbacObject } from '../../src/ports/kube.ts';

const rbacKey = (o: Pick<RbacObject, 'kind' | 'name'> & { namespace?: string }) =>
  `${o.kind}/${o.namespace ? `${o.namespace}/` : ''}${o.name}`;

export class FakeObjects {
  configMaps = new Map<string, ConfigMapView>();
  rbac = new Map<string, RbacObject>();
  calls: string[] = [];

  withConfigMap(name: string, data: Record<string, string>, annotations: Record<string, string> = {}): this {
    this.configMaps.set(`kube-system/${name}`, {
      namespace: 'kube-system',
      name,
      data,
      labels: {},
      annotations,
      resourceVersion: '1',
    });
    return this;
  }

  withRbac(object: RbacObject): this {
    this.rbac.set(rbacKey(object), object);
    return this;
  }

  port(): KubePort {
    const handler: ProxyHandler<object> = {
      get: (_target, prop) => {
        const method = (this.methods as Record<string | symbol, unknown>)[prop];
        if (method) return method;
        return () => {
          throw new Error(`FakeObjects: ${String(prop)} is not faked`);
        };
      },
    };
    return new Proxy({}, handler) as KubePort;
  }

  private methods: Partial<KubePort> = {
    getConfigMap: async (namespace, name) => this.configMaps.get(`${namespace}/${name}`),
    createConfigMap: async (cm) => {
      this.calls.push(`create ConfigMap/${cm.name}`);
      const key = `${cm.namespace}/${cm.name}`;
      if (this.configMaps.has(key)) return 'exists';
      this.configMaps.set(key, { ...cm, resourceVersion: '1' });
      return 'created';
    },
    ensureRbac: async (objects) => {
      const created: string[] = [];
      for (const object of objects) {
        const key = rbacKey(object);
        if (this.rbac.has(key)) continue;
        this.rbac.set(key, object);
        created.push(`${object.kind}/${object.name}`);
      }
      return created;
    },
  };
}
