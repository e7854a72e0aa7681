// Where a replacement may land when its own subnet has no capacity: the other subnets of the
// replaced machine's VPC in the same AZ (same AZ keeps etcd members spread as they were) that the cluster
// declares as its own, tagged kubernetes.io/cluster/<name> owned or shared as the AWS cloud provider reads
// them; never any subnet of the zone (a public, a database or another team's subnet).
import type { Machine } from '../../src/domain/model.ts';
import type { Ec2Port } from './ec2-port.ts';
import { ec2Facts } from './instances.ts';
import { clusterTagKey } from './options.ts';

/** Other subnets of the same VPC and AZ, sorted by id so every run tries them in the same order. */
export async function siblingSubnets(ec2: Ec2Port, replaces: Machine, clusterName: string): Promise<string[]> {
  const { subnetId } = ec2Facts(replaces);
  if (!subnetId) return [];
  const [own] = await ec2.describeSubnets({ SubnetIds: [subnetId] });
  if (!own?.VpcId) return [];
  const siblings = await ec2.describeSubnets({
    Filters: [
      { Name: 'vpc-id', Values: [own.VpcId] },
      { Name: 'availability-zone', Values: [own.AvailabilityZone ?? replaces.zone] },
      { Name: `tag:${clusterTagKey(clusterName)}`, Values: ['owned', 'shared'] },
    ],
  });
  return siblings
    .map((s) => s.SubnetId)
    .filter((id): id is string => id !== undefined && id !== subnetId)
    .sort();
}
