<#
.SYNOPSIS
Runs the module's Pester tests and prints their summary (used by scripts/test-powershell).

.DESCRIPTION
Imports the given Pester 5 module, runs every *.Tests.ps1 in this folder and writes the counts to
-ResultFile as JSON ({passed, failed, skipped, notRun, total}) for scripts/test's closing line.
Exits 0 only when at least one test ran and none failed.

.PARAMETER PesterModule
The path of Pester.psd1 (5.x).

.PARAMETER ResultFile
Where the counts are written.

.PARAMETER Tag
Only the tests with one of these tags.

.PARAMETER FullName
Only the tests whose full name (Describe and It) matches one of these wildcards.

.EXAMPLE
pwsh -NoProfile -NonInteractive -File pester/Invoke-PesterSuite.ps1 -PesterModule ~/.cache/groupid-upgrade/nuget/pester/5.7.1/tools/Pester.psd1
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)]
    [string] $PesterModule,

    [string] $ResultFile,

    [string[]] $Tag,

    [string[]] $FullName
)

$ErrorActionPreference = 'Stop'
Import-Module -Name $PesterModule -Force
$configuration = New-PesterConfiguration
$configuration.Run.Path = $PSScriptRoot
$configuration.Run.PassThru = $true
$configuration.Output.Verbosity = 'Normal'
if ($Tag) { $configuration.Filter.Tag = $Tag }
if ($FullName) { $configuration.Filter.FullName = $FullName }
$result = Invoke-Pester -Configuration $configuration
$counts = [ordered]@{
    passed  = $result.PassedCount
    failed  = $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount
    skipped = $result.SkippedCount
    notRun  = $result.NotRunCount
    total   = $result.TotalCount
}
if ($ResultFile) { $counts | ConvertTo-Json | Set-Content -LiteralPath $ResultFile -Encoding utf8 }
'pester: {0} passed, {1} failed' -f $counts.passed, $counts.failed
if ($counts.failed -gt 0 -or $counts.passed -eq 0) { exit 1 }
exit 0
