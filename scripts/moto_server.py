"""The moto AWS emulator in server mode, with the project's corrections to it.

Run by `scripts/moto-server` with the Python of `.venv/` (which `scripts/setup` fills).
Every correction makes moto answer as AWS does for a call the project makes; each names
the moto behaviour it replaces. One addition, the two global-cluster writer moves moto
lacks, is marked as such. Nothing here changes what our code sends.
"""

import sys

from moto.rds import models as rds
from moto.rds import responses as rds_responses
from moto.server import main


def remove_from_global_cluster(self, global_cluster_identifier, db_cluster_identifier):
    """RemoveFromGlobalCluster for a member in any region.

    moto 5.2.5 keeps every global cluster in the us-east-1 backend (CreateGlobalCluster and
    DescribeGlobalClusters use that one), but RemoveFromGlobalCluster looked for it in the
    backend of the region it was called in, and for the member among that region's
    clusters only. So a secondary cluster in another region could never leave its global
    database; once deleted it stayed a member, and the global cluster could not be deleted.
    AWS accepts the call from the member's region, naming the member by ARN.
    """
    home = rds.rds_backends[self.account_id]["us-east-1"]
    global_cluster = home.global_clusters.get(global_cluster_identifier)
    if global_cluster is None:
        return None
    for member in list(global_cluster.members):
        if db_cluster_identifier in (member.db_cluster_arn, member.db_cluster_identifier):
            global_cluster.members.remove(member)
            return global_cluster
    return None


rds.RDSBackend.remove_from_global_cluster = remove_from_global_cluster


def move_global_writer(self):
    """SwitchoverGlobalCluster and FailoverGlobalCluster, which moto 5.2.5 lacks.

    As AWS documents both for the state a caller can see: the target member becomes the
    global cluster's writer and the old writer a reader of it (a switchover after the
    secondary caught up, a failover with data loss allowed at once; the emulator has no
    replication, so the two differ only in name). An identifier that is not a member is
    refused with DBClusterNotFoundFault, as AWS does. Only added, so that the stack's
    binary can run a writer change end to end; the provider's requests themselves are
    proved against aws-smithy-mocks in `providers/src/aws/rds/mocks.rs`.
    """
    from moto.core.responses import ActionResult
    from moto.rds.exceptions import DBClusterNotFoundError, RDSClientError

    params = self.params
    gid = params["GlobalClusterIdentifier"]
    target = params["TargetDbClusterIdentifier"]
    global_cluster = self.global_backend.global_clusters.get(gid)
    if global_cluster is None:
        raise RDSClientError("GlobalClusterNotFoundFault", f"Global cluster {gid} not found.")
    members = list(global_cluster.members)
    chosen = [m for m in members if target in (m.db_cluster_arn, m.db_cluster_identifier)]
    if not chosen:
        raise DBClusterNotFoundError(target)
    for member in members:
        member.is_writer = member is chosen[0]
    return ActionResult({"GlobalCluster": global_cluster})


rds_responses.RDSResponse.switchover_global_cluster = move_global_writer
rds_responses.RDSResponse.failover_global_cluster = move_global_writer


_create_global_cluster = rds_responses.RDSResponse.create_global_cluster


def create_global_cluster(self):
    """CreateGlobalCluster keeping the request's tags.

    moto 5.2.5 drops the `Tags` of CreateGlobalCluster, so DescribeGlobalClusters lists the
    cluster with no `TagList`. The provider recognises a global cluster it created by those
    tags (the stack and the create's token) when a create's answer was lost or the run was
    killed mid-call; without them every later `up` stopped at AlreadyExists. AWS keeps the
    tags and returns them in `TagList`.
    """
    result = _create_global_cluster(self)
    cluster = self.global_backend.global_clusters.get(self.params["GlobalClusterIdentifier"])
    if cluster is not None:
        cluster.tags = self.params.get("Tags") or []
    return result


rds_responses.RDSResponse.create_global_cluster = create_global_cluster


_create_global_cluster_backend = rds.RDSBackend.create_global_cluster


def create_global_cluster_from_source(
    self, global_cluster_identifier, source_db_cluster_identifier=None, **settings
):
    """CreateGlobalCluster from a source cluster of any region, which becomes its writer.

    moto 5.2.5 keeps every global cluster in the us-east-1 backend and looked for the
    `SourceDBClusterIdentifier` (an ARN) among that backend's clusters only, so a global
    database could not be formed from a cluster of another region (DBClusterNotFoundFault);
    it also left the source member's writer flag unset. AWS finds the cluster by its ARN
    in its own region and makes it the global database's primary (writer) cluster, whose
    engine, version and encryption the global cluster takes. The stack forms a global
    database this way when it fails back after a detach-and-promote (the promoted cluster
    is the source). `settings` are moto's other arguments (engine, version, encryption,
    deletion protection).
    """
    source = None
    if source_db_cluster_identifier is not None:
        from moto.rds.exceptions import DBClusterNotFoundError

        parts = source_db_cluster_identifier.split(":")
        region = parts[3] if len(parts) == 7 else self.region_name
        source = rds.rds_backends[self.account_id][region].clusters.get(parts[-1])
        if source is None:
            raise DBClusterNotFoundError(source_db_cluster_identifier)
        settings.update(
            engine=source.engine,
            engine_version=source.engine_version,
            storage_encrypted=source.storage_encrypted,
        )
    global_cluster = _create_global_cluster_backend(
        self, global_cluster_identifier, None, **settings
    )
    if source is not None:
        source.global_cluster_identifier = global_cluster_identifier
        source.is_writer = True
        global_cluster.members.append(source)
    return global_cluster


rds.RDSBackend.create_global_cluster = create_global_cluster_from_source


_create_subnet_group = rds.RDSBackend.create_subnet_group


def create_subnet_group(self, subnet_name, description, subnets, tags):
    """CreateDBSubnetGroup refuses a name that exists, with DBSubnetGroupAlreadyExists.

    moto 5.2.5 silently replaces the existing group (its subnets and tags) instead. The
    provider creates without reading first and adopts the group on AlreadyExists only when
    its tags say it is this resource's, as AWS answers; with moto's replacement, another
    stack's group of the same name would have been taken over.
    """
    from moto.rds.exceptions import RDSClientError

    if subnet_name in self.subnet_groups:
        raise RDSClientError(
            "DBSubnetGroupAlreadyExists",
            f"The DB subnet group '{subnet_name}' already exists.",
        )
    return _create_subnet_group(self, subnet_name, description, subnets, tags)


rds.RDSBackend.create_subnet_group = create_subnet_group


def modify_db_subnet_group(self, subnet_name, description, subnets):
    """ModifyDBSubnetGroup changes the group in place and keeps it, as AWS does, and refuses
    a group that does not exist with DBSubnetGroupNotFoundFault.

    moto 5.2.5 takes the group out of its backend to modify it and never puts it back (and
    answers a 500, a KeyError, for a missing one): after the stack's zone count changed,
    its DB subnet groups were gone and the next change of them failed.
    """
    from moto.rds.exceptions import DBSubnetGroupNotFoundError

    group = self.subnet_groups.get(subnet_name)
    if group is None:
        raise DBSubnetGroupNotFoundError(subnet_name)
    group.subnets = subnets
    if description is not None:
        group.description = description
    return group


rds.RDSBackend.modify_db_subnet_group = modify_db_subnet_group


_create_db_cluster = rds.RDSBackend.create_db_cluster


def create_db_cluster(self, kwargs):
    """CreateDBCluster refuses an identifier that exists, with DBClusterAlreadyExistsFault.

    moto 5.2.5 silently replaces the existing cluster (and adds it to its global cluster's
    members a second time). The provider creates without reading first and adopts the
    cluster on AlreadyExists only when its tags say it is this resource's, as AWS answers.
    """
    from moto.rds.exceptions import RDSClientError

    if kwargs["db_cluster_identifier"] in self.clusters:
        raise RDSClientError(
            "DBClusterAlreadyExistsFault",
            f"DB cluster {kwargs['db_cluster_identifier']} already exists.",
        )
    return _create_db_cluster(self, kwargs)


rds.RDSBackend.create_db_cluster = create_db_cluster


_delete_db_cluster = rds.RDSBackend.delete_db_cluster


def delete_db_cluster(self, cluster_identifier, snapshot_name=None):
    """DeleteDBCluster deletes the cluster's automated backups with it, as AWS does.

    moto 5.2.5 kept the automated snapshot it makes at every create (named
    `rds:<cluster>-<YYYY-MM-DD-HH-MM>`), so creating a cluster of the same identifier again
    within the same minute failed with DBClusterSnapshotAlreadyExistsFault, after moto had
    stored the cluster but before it joined its global database. A failback after a
    detach deletes the old primary and creates its replacement under the same identifier
    moments later. Manual and final snapshots stay, as in AWS.
    """
    cluster = _delete_db_cluster(self, cluster_identifier, snapshot_name)
    for snapshot_id, snapshot in list(self.cluster_snapshots.items()):
        if (
            snapshot.snapshot_type == "automated"
            and snapshot.db_cluster_identifier == cluster_identifier
        ):
            del self.cluster_snapshots[snapshot_id]
    return cluster


rds.RDSBackend.delete_db_cluster = delete_db_cluster


def apigateway_not_found():
    """GetDeployment, GetMethodResponse, GetIntegration and GetIntegrationResponse answer
    NotFoundException (404) for a child that does not exist, as AWS does.

    moto 5.2.5 answers GetDeployment of a deleted deployment with an internal error (500,
    a KeyError), GetMethodResponse and GetIntegrationResponse of a missing one with 500 as
    well, and GetIntegration of a method without one with `{}` and 200. A run killed
    while deleting a deployment then never converged: the next run's reconciliation read
    the deployment to learn whether the delete had happened, and got a retryable 500 each
    time; an integration that was never put read back as an empty one.
    """
    from moto.apigateway import models as apigw
    from moto.apigateway.exceptions import NotFoundException

    class Missing(NotFoundException):
        code = 404

    backend = apigw.APIGatewayBackend

    def get_deployment(self, function_id, deployment_id):
        api = self.get_rest_api(function_id)
        if deployment_id not in api.deployments:
            raise Missing("Invalid Deployment identifier specified")
        return api.deployments[deployment_id]

    get_method_response_of = backend.get_method_response

    def get_method_response(self, function_id, resource_id, method_type, response_code):
        response = get_method_response_of(
            self, function_id, resource_id, method_type, response_code
        )
        if response is None:
            raise Missing("Invalid Response status code specified")
        return response

    get_integration_of = backend.get_integration

    def get_integration(self, function_id, resource_id, method_type):
        integration = get_integration_of(self, function_id, resource_id, method_type)
        if integration is None:
            raise Missing("No integration defined for method")
        return integration

    backend.get_deployment = get_deployment
    backend.get_method_response = get_method_response
    backend.get_integration = get_integration


apigateway_not_found()


def route53_create_refuses_an_existing_record():
    """ChangeResourceRecordSets refuses to CREATE a record set whose name, type and set
    identifier exist, with InvalidChangeBatch, as AWS does.

    moto 5.2.5 refuses only a CREATE identical to one it has seen (the same values), and
    adds a second record set of the same name and type when the values differ. The record
    provider creates without reading first and adopts on "already exists" only a record
    with the declared values, so another record of that name must be refused.
    """
    from moto.route53 import models as route53
    from moto.route53.exceptions import ResourceRecordAlreadyExists

    change = route53.Route53Backend.change_resource_record_sets

    def key(name, type_, set_identifier):
        return (name.rstrip(".").lower(), type_, set_identifier)

    def change_resource_record_sets(self, zoneid, change_list):
        zone = self.get_hosted_zone(zoneid)
        # A batch is applied as a whole: a set it deletes may be created again in it.
        deleted = {
            key(c["ResourceRecordSet"]["Name"], c["ResourceRecordSet"]["Type"],
                c["ResourceRecordSet"].get("SetIdentifier"))
            for c in change_list
            if c.get("Action") == "DELETE"
        }
        existing = {key(r.name, r.type, r.set_identifier) for r in zone.rrsets}
        for value in change_list:
            if value.get("Action") != "CREATE":
                continue
            wanted = value["ResourceRecordSet"]
            k = key(wanted["Name"], wanted["Type"], wanted.get("SetIdentifier"))
            if k in existing and k not in deleted:
                raise ResourceRecordAlreadyExists(name=k[0] + ".", _type=k[1])
        return change(self, zoneid, change_list)

    route53.Route53Backend.change_resource_record_sets = change_resource_record_sets


route53_create_refuses_an_existing_record()


def aurora_instances_carry_their_clusters_subnet_group():
    """An Aurora instance is described with its cluster's DB subnet group, as AWS does.

    moto 5.2.5 gives an instance created into a cluster without `DBSubnetGroupName` no
    subnet group, so DescribeDBInstances leaves `DBSubnetGroup` out. In AWS the instances
    of an Aurora cluster use the cluster's group, and DescribeDBInstances embeds it whole
    (name, description, VPC, subnets). The refresh reads a subnet group from that answer
    when an instance of the refresh uses it.
    """
    clustered = rds.DBInstanceClustered.__init__

    def init(self, db_cluster_identifier, promotion_tier=1, **kwargs):
        clustered(self, db_cluster_identifier, promotion_tier=promotion_tier, **kwargs)
        name = getattr(self.cluster, "db_subnet_group_name", None)
        if self._db_subnet_group_name is None and name in self.backend.subnet_groups:
            self.db_subnet_group_name = name

    rds.DBInstanceClustered.__init__ = init


aurora_instances_carry_their_clusters_subnet_group()


def tagging_lists_subnet_groups_and_addresses():
    """The Resource Groups Tagging API lists DB subnet groups (`rds:subgrp`) and Elastic IP
    addresses (`ec2:elastic-ip`) with their tags, as AWS does.

    moto 5.2.5 lists neither, so a refresh asked each of them for its tags on its own
    (ListTagsForResource, DescribeAddresses) where on AWS the one listing per region
    answers. ARNs as AWS makes them: `arn:aws:rds:REGION:ACCOUNT:subgrp:NAME` and
    `arn:aws:ec2:REGION:ACCOUNT:elastic-ip/ALLOCATION-ID`.
    """
    from moto.core.resource_tagging import TaggedResource
    from moto.ec2 import models as ec2

    rds_listed = rds.RDSBackend.iter_tagged_resources

    def rds_resources(self):
        yield from rds_listed(self)
        for group in self.subnet_groups.values():
            yield TaggedResource(
                arn=group.arn,
                tags={tag["Key"]: tag["Value"] for tag in group.get_tags()},
                resource_type="rds:subgrp",
            )

    rds.RDSBackend.iter_tagged_resources = rds_resources

    ec2_listed = ec2.EC2Backend.iter_tagged_resources

    def ec2_resources(self):
        yield from ec2_listed(self)
        for address in self.addresses:
            if address.allocation_id is None:
                continue
            yield TaggedResource(
                arn=f"arn:{self.partition}:ec2:{self.region_name}:{self.account_id}"
                f":elastic-ip/{address.allocation_id}",
                tags=dict(self.tags.get(address.allocation_id, {})),
                resource_type="ec2:elastic-ip",
            )

    ec2.EC2Backend.iter_tagged_resources = ec2_resources


tagging_lists_subnet_groups_and_addresses()

if __name__ == "__main__":
    sys.exit(main())
