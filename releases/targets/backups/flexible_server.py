"""On-demand backups of an Azure Database for PostgreSQL Flexible Server
(`azure-mgmt-postgresqlflexibleservers`): ARM's backup long-running operation, waited for, then
the backup read back to see that it completed.

Azure keeps the backup with the server's own; restoring is a point-in-time restore to a new server
from that moment (the procedure the engine prints when an irreversible migration must be undone).
"""

from __future__ import annotations

from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError
from azure.mgmt.postgresqlflexibleservers import PostgreSQLManagementClient

from releases.errors import Refused, TargetUnavailable
from releases.settings import CloudSettings
from releases.targets.backups.protocol import Backup
from releases.targets.clients import azure_auth
from releases.topology import PostgresFlexibleServerSpec


class FlexibleServerBackups:
    def __init__(
        self, target: PostgresFlexibleServerSpec, credential: TokenCredential, clouds: CloudSettings
    ) -> None:

        self.target = target
        options = azure_auth.arm_client_options(clouds, clouds.backup_polling_seconds)
        self.client = PostgreSQLManagementClient(credential, target.subscription_id, **options)

    def backup(self, name: str, timeout: float) -> Backup:

        rg, server = self.target.resource_group, self.target.server
        operations = self.client.backups_automatic_and_on_demand
        try:
            poller = operations.begin_create(rg, server, name)
            poller.result(timeout=timeout)
            if not poller.done():
                raise Refused(
                    f"the on-demand backup {name} of {server} did not finish within {timeout:g} s; "
                    "nothing was migrated"
                )
            taken = operations.get(rg, server, name)
        except AzureError as error:
            status = getattr(error, "status_code", None)
            raise TargetUnavailable(
                f"the on-demand backup {name} of {server} failed: {status or ''} "
                f"{azure_auth.summary(error)}; nothing was migrated"
            ) from None
        completed = taken.properties.completed_time if taken.properties else None
        if completed is None:
            raise Refused(f"the backup {name} of {server} reports no completion time; nothing was migrated")
        moment = completed.isoformat()
        return Backup(
            location=f"{server}/backups/{name}",
            size_bytes=None,
            verification=f"Azure reports the on-demand backup completed at {moment}",
            restore_procedure=(
                f"az postgres flexible-server restore --resource-group {rg} --source-server {server} "
                f"--name {server}-restored --restore-time {moment}; then point the secret "
                f"database-url at the restored server and restart the app"
            ),
        )
