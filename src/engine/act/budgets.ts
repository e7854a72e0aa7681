// Which PodDisruptionBudgets cover a pod: the reason an eviction is refused, named in the drain's outcome.
import type { DisruptionBudgetView, LabelRequirement, PodOnNode } from '../../ports/kube.ts';

/** Whether `budget` covers `pod`, by the label-selector rules of policy/v1. */
export function budgetSelects(budget: DisruptionBudgetView, pod: Pick<PodOnNode, 'namespace' | 'labels'>): boolean {
  if (budget.selectsNone || budget.namespace !== pod.namespace) return false;
  for (const [key, value] of Object.entries(budget.matchLabels)) {
    if (pod.labels[key] !== value) return false;
  }
  return (budget.matchExpressions ?? []).every((req) => requirementHolds(req, pod.labels));
}

function requirementHolds(req: LabelRequirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, req.key);
  const values = req.values ?? [];
  switch (req.operator) {
    case 'In':
      return has && values.includes(labels[req.key]!);
    case 'NotIn':
      return !has || !values.includes(labels[req.key]!);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    default:
      return false;
  }
}

/** `namespace/name` of every budget that selects the pod. */
export function budgetsBlocking(pod: Pick<PodOnNode, 'namespace' | 'labels'>, budgets: DisruptionBudgetView[]) {
  return budgets.filter((b) => budgetSelects(b, pod)).map((b) => `${b.namespace}/${b.name}`);
}
