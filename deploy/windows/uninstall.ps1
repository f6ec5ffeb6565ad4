# Removes Supervisor's scheduled tasks (stops running instances first).
param(
    [string[]]$Tasks = @('supervisor-webui', 'supervisor-scan-worker', 'supervisor-media-worker', 'supervisor-db-backup')
)
$ErrorActionPreference = 'Continue'
foreach ($name in $Tasks) {
    Stop-ScheduledTask -TaskName $name -TaskPath '\Supervisor\' -ErrorAction SilentlyContinue
    Unregister-ScheduledTask -TaskName $name -TaskPath '\Supervisor\' -Confirm:$false -ErrorAction SilentlyContinue
    Write-Host "removed \Supervisor\$name"
}
