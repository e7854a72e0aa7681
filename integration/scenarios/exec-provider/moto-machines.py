#!/usr/bin/env python3
"""kubeswap exec-provider command over EC2 and an ELBv2 target group (moto in the sandbox, AWS alike).

    moto-machines.py --cluster NAME --launch-template LT_ID --target-group ARN
                     [--pool-tag KEY --worker-launch-template LT_ID] <verb>

Worker pools (optional): pool P is the instances tagged KEY=P; its replacements launch from the worker launch
template (whose user data joins a worker) and carry KEY=P and kubeswap.io/role=worker.

kubeswap appends the verb, writes one JSON request on stdin and reads one JSON object from stdout
(providers/README.md, "The exec provider"). Logs go to stderr. Credentials, region and endpoint come
from the usual AWS_* variables (AWS_ENDPOINT_URL points boto3 at moto).
"""
import argparse
import json
import os
import re
import sys

import boto3
from botocore.exceptions import ClientError

CONTROL_PLANE = "control-plane"
ROLE_TAG = "kubeswap.io/role"
TOKEN_TAG = "kubeswap.io/token"
RUN_TAG = "kubeswap.io/run-id"
REPLACES_TAG = "kubeswap.io/replaces"
PROVIDER_ID = re.compile(r"^aws:///[^/]*/(i-[0-9a-z]+)$")
PHASES = {
    "pending": "provisioning",
    "running": "running",
    "shutting-down": "deleting",
    "stopping": "deleting",
    "terminated": "gone",
    "stopped": "failed",
}
TARGET_STATES = {
    "initial": "registering",
    "healthy": "serving",
    "unhealthy": "unhealthy",
    "draining": "draining",
    "unhealthy.draining": "draining",
    "unused": "absent",
    "unavailable": "unmonitored",
}


def log(message):
    print(message, file=sys.stderr)


class Machines:
    def __init__(self, cluster, launch_template, target_group, pool_tag=None, worker_launch_template=None):
        self.cluster_tag = f"kubernetes.io/cluster/{cluster}"
        self.launch_template = launch_template
        self.target_group = target_group
        self.pool_tag = pool_tag
        self.worker_launch_template = worker_launch_template
        # botocore reads AWS_DEFAULT_REGION only; the AWS SDKs for JS and Go read AWS_REGION.
        region = os.environ.get("AWS_REGION") or None
        self.ec2 = boto3.client("ec2", region_name=region)
        self.elb = boto3.client("elbv2", region_name=region)

    # --- helpers -------------------------------------------------------------------------------
    def describe(self, **kwargs):
        instances = []
        for page in self.ec2.get_paginator("describe_instances").paginate(**kwargs):
            for reservation in page["Reservations"]:
                instances.extend(reservation["Instances"])
        return instances

    def machine(self, instance):
        tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
        zone = instance["Placement"]["AvailabilityZone"]
        state = instance["State"]["Name"]
        machine = {
            "id": instance["InstanceId"],
            "providerId": f"aws:///{zone}/{instance['InstanceId']}",
            "phase": PHASES.get(state, "provisioning"),
            "status": state,
            "zone": zone,
            "imageId": instance["ImageId"],
            "launchedAt": instance["LaunchTime"].isoformat(),
            "data": {"subnetId": instance.get("SubnetId", "")},
        }
        if REPLACES_TAG in tags:
            machine["replaces"] = tags[REPLACES_TAG]
        if RUN_TAG in tags:
            machine["runId"] = tags[RUN_TAG]
        if tags.get(self.cluster_tag) not in ("owned", "shared"):
            machine["problems"] = [{
                "code": "machine.not-in-cluster",
                "message": f"instance {instance['InstanceId']} is not tagged {self.cluster_tag}=owned",
                "hint": "check --cluster (replacements are found by this tag)",
            }]
        return machine

    def by_ids(self, ids):
        if not ids:
            return []
        # Filtering by instance-id answers unknown ids with nothing instead of InvalidInstanceID.NotFound.
        return self.describe(Filters=[{"Name": "instance-id", "Values": ids}])

    # --- verbs ---------------------------------------------------------------------------------
    def resolve(self, request):
        if request.get("imageId"):
            images = self.ec2.describe_images(Filters=[{"Name": "image-id", "Values": [request["imageId"]]}])["Images"]
        else:
            images = self.ec2.describe_images(
                Filters=[{"Name": "tag:kubernetes-version", "Values": [request["version"]]}])["Images"]
        if not images:
            wanted = request.get("imageId") or f"tagged kubernetes-version={request['version']}"
            return {"problems": [{"code": "image.not-found", "message": f"no image {wanted} in this account",
                                  "hint": "build the image first, or pass --image"}]}
        newest = sorted(images, key=lambda i: i.get("CreationDate", ""))[-1]
        return {"imageId": newest["ImageId"]}

    def in_pool(self, instance, pool):
        tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
        if pool == CONTROL_PLANE:
            return True  # kubeswap hands the control plane only its own Nodes' providerIDs
        return bool(self.pool_tag) and tags.get(self.pool_tag) == pool

    def list(self, request):
        pool = request["pool"]
        if pool != CONTROL_PLANE and not self.pool_tag:
            return {"machines": []}  # no worker pools configured: a pool of kubeswap's selects nothing (exit 2)
        linked = [m.group(1) for m in (PROVIDER_ID.match(p) for p in request["providerIds"]) if m]
        # Linked machines in any state (kubeswap must see a terminated one), plus every live machine of the pool.
        # kubeswap hands a worker pool every worker Node's providerID: only this pool's machines are answered.
        live = self.describe(Filters=[
            {"Name": f"tag:{self.cluster_tag}", "Values": ["owned"]},
            {"Name": f"tag:{ROLE_TAG}", "Values": [CONTROL_PLANE]} if pool == CONTROL_PLANE
            else {"Name": f"tag:{self.pool_tag}", "Values": [pool]},
            {"Name": "instance-state-name", "Values": ["pending", "running", "shutting-down", "stopping", "stopped"]},
        ])
        found = [i for i in self.by_ids(linked) if self.in_pool(i, pool)] + live
        machines = {i["InstanceId"]: self.machine(i) for i in found}
        return {"machines": list(machines.values())}

    def status(self, request):
        return {"machines": [self.machine(i) for i in self.by_ids(request["machineIds"])]}

    def create(self, request):
        # Find before create: the token names this attempt, so a re-run gets the same machine back.
        found = self.describe(Filters=[
            {"Name": f"tag:{TOKEN_TAG}", "Values": [request["token"]]},
            {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
        ])
        if found:
            log(f"create: {found[0]['InstanceId']} already exists for token {request['token']}")
            return {"machine": self.machine(found[0])}
        replaces = request["replaces"]
        worker = request["pool"] != CONTROL_PLANE
        tags = {
            **request.get("tags", {}),
            self.cluster_tag: "owned",
            ROLE_TAG: "worker" if worker else CONTROL_PLANE,
            **({self.pool_tag: request["pool"]} if worker else {}),
            TOKEN_TAG: request["token"],
            RUN_TAG: request["runId"],
            REPLACES_TAG: replaces["id"],
        }
        launch = {
            "MinCount": 1,
            "MaxCount": 1,
            "ClientToken": request["token"],
            "LaunchTemplate": {"LaunchTemplateId": self.worker_launch_template if worker else self.launch_template,
                               "Version": "$Default"},
            "ImageId": request["desired"]["imageId"],
            "TagSpecifications": [{"ResourceType": "instance",
                                   "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
        }
        subnet = replaces.get("data", {}).get("subnetId")
        if subnet:
            launch["SubnetId"] = subnet  # the replacement lands in the old machine's failure domain
        if "userData" in request:
            launch["UserData"] = request["userData"]  # render mode; never logged
        instance = self.ec2.run_instances(**launch)["Instances"][0]
        log(f"create: launched {instance['InstanceId']} to replace {replaces['id']} in pool {request['pool']}")
        return {"machine": self.machine(instance)}

    def delete(self, request):
        # Gone or unknown is done: kubeswap may ask again after a crash.
        if self.by_ids([request["machineId"]]):
            self.ec2.terminate_instances(InstanceIds=[request["machineId"]])
        return {}

    def targets(self, _request):
        health = self.elb.describe_target_health(TargetGroupArn=self.target_group)["TargetHealthDescriptions"]
        return {"targets": [{"machineId": h["Target"]["Id"],
                             "state": TARGET_STATES.get(h["TargetHealth"]["State"], "unmonitored")} for h in health]}

    def register(self, request):
        self.elb.register_targets(TargetGroupArn=self.target_group, Targets=[{"Id": request["machineId"]}])
        return {}

    def deregister(self, request):
        try:
            self.elb.deregister_targets(TargetGroupArn=self.target_group, Targets=[{"Id": request["machineId"]}])
        except ClientError as error:
            if error.response["Error"]["Code"] != "InvalidTarget":  # not registered any more
                raise
        return {}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cluster", required=True)
    parser.add_argument("--launch-template", required=True)
    parser.add_argument("--target-group", required=True)
    parser.add_argument("--pool-tag", help="instances tagged KEY=P are worker pool P")
    parser.add_argument("--worker-launch-template", help="worker replacements launch from it")
    parser.add_argument("verb", choices=["resolve", "list", "status", "create", "delete",
                                         "targets", "register", "deregister"])
    args = parser.parse_args()
    request = json.load(sys.stdin)
    if request.get("protocol") != 1:
        print(f"protocol {request.get('protocol')} is not supported (1 is)", file=sys.stderr)
        return 2
    if args.pool_tag and not args.worker_launch_template:
        print("--pool-tag needs --worker-launch-template", file=sys.stderr)
        return 2
    machines = Machines(args.cluster, args.launch_template, args.target_group, args.pool_tag,
                        args.worker_launch_template)
    try:
        response = getattr(machines, args.verb)(request)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code in ("InsufficientInstanceCapacity", "InsufficientCapacity"):
            json.dump({"error": {"code": "capacity.insufficient", "message": str(error)}}, sys.stdout)
        else:
            print(f"{args.verb}: {error}", file=sys.stderr)
        return 1
    json.dump(response, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
