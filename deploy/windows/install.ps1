# Registers Supervisor's scheduled tasks for the current user.
#   powershell -ExecutionPolicy Bypass -File deploy\windows\install.ps1 -InstallDir "C:\Program Files\Supervisor"
# Paths with spaces are fine: the task XML quotes the command and the home
# folder is passed as one argument.
param(
    [Parameter(Mandatory = $true)][string]$InstallDir,
    [string[]]$Tasks = @('supervisor-webui', 'supervisor-scan-worker', 'supervisor-media-worker', 'supervisor-db-backup')
)
$ErrorActionPreference = 'Stop'
$resolved = (Resolve-Path -LiteralPath $InstallDir).Path
foreach ($name in $Tasks) {
    $xmlPath = Join-Path $PSScriptRoot "$name.xml"
    $xml = Get-Content -LiteralPath $xmlPath -Raw
    $xml = $xml.Replace('%SUPERVISOR_HOME%', $resolved)
    Register-ScheduledTask -TaskName $name -TaskPath '\Supervisor\' -Xml $xml -Force | Out-Null
    Write-Host "registered \Supervisor\$name"
}
