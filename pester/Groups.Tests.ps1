#Requires -Module @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }
# Upgrade-Group through a real pipeline against the test bed's Samba DC (corp.example.com, started
# here when it is not up and stopped again then): 1,000 Get-ADGroup-shaped objects on one engine,
# one result per group as it is done, a broken group failing alone and once; a stopped pipeline
# mid-groups resumes exactly.

BeforeAll {
    . (Join-Path $PSScriptRoot 'Support.ps1')
    $script:StateFile = Join-Path $TestDrive 'groups-state.json'
    $output = & $script:Python (Join-Path $script:Repo 'tests/testbed/pester_groups.py') up --groups 1000 --ous 2 --out $script:StateFile 2>&1
    if ($LASTEXITCODE -ne 0) { throw "The Samba DC with the test groups could not be set up: $output" }
    $script:State = Get-Content -LiteralPath $script:StateFile -Raw | ConvertFrom-Json
    $script:Answers = $script:State.answerFile

    function ConvertTo-ADGroupShape {
        # What Get-ADGroup returns, as far as Upgrade-Group can see it.
        param([Parameter(ValueFromPipeline)] $Group)
        process {
            $object = [pscustomobject]@{
                DistinguishedName = [string]$Group.distinguishedName
                ObjectGUID        = [guid]$Group.objectGuid
                SamAccountName    = [string]$Group.samAccountName
                Name              = ([string]$Group.distinguishedName).Split(',')[0].Substring(3)
                ObjectClass       = 'group'
                GroupCategory     = 'Security'
                GroupScope        = 'Global'
            }
            $object.PSObject.TypeNames.Insert(0, 'Microsoft.ActiveDirectory.Management.ADGroup')
            $object.PSObject.TypeNames.Insert(1, 'Microsoft.ActiveDirectory.Management.ADPrincipal')
            $object
        }
    }
}

AfterAll {
    Get-Module GroupIDUpgrade | Remove-Module -Force
    if (Test-Path -LiteralPath $script:StateFile) {
        & $script:Python (Join-Path $script:Repo 'tests/testbed/pester_groups.py') down --state $script:StateFile 2>&1 | Out-Null
    }
}

Describe 'Get-ADGroup | Upgrade-Group on the Samba DC' -Tag 'Groups' {
    BeforeAll {
        Import-GroupIDUpgradeForTest | Out-Null
    }

    It 'upgrades 1,000 groups on ONE engine, one result per group as it is done, the broken group failing once while the others go on' {
        $groups = @($script:State.ous[0].groups | ConvertTo-ADGroupShape)
        $broken = [pscustomobject]@{ DistinguishedName = $script:State.broken }
        $groups.Count | Should -Be 1000
        $timeline = [pscustomobject]@{ LastInput = $null; FirstResult = $null; MostEngines = 0 }
        $results = New-Object System.Collections.Generic.List[object]
        & {
            $i = 0
            foreach ($group in $groups) {
                $i++
                if ($i -eq 500) { $broken }
                $group
            }
            $timeline.LastInput = [datetime]::UtcNow
        } | Upgrade-Group -AnswerFile $script:Answers -Confirm:$false -ErrorVariable failures -ErrorAction SilentlyContinue -WarningVariable warned |
            ForEach-Object {
                if ($null -eq $timeline.FirstResult) { $timeline.FirstResult = [datetime]::UtcNow }
                if ($results.Count % 100 -eq 0) { $timeline.MostEngines = [Math]::Max($timeline.MostEngines, @(Get-EngineProcess).Count) }
                $results.Add($_)
            }
        $results.Count | Should -Be 1000
        @($results | Where-Object { $_.status -ne 'Upgraded' }).Count | Should -Be 0
        @($results | ForEach-Object { $_.PSObject.TypeNames[0] } | Select-Object -Unique) | Should -Be @('GroupIDUpgrade.GroupResult')
        @($results | ForEach-Object { $_.distinguishedName } | Sort-Object -Unique).Count | Should -Be 1000
        $failures.Count | Should -Be 1
        $failures[0].FullyQualifiedErrorId | Should -Be 'GroupDefinitionInvalid,Update-GroupIDGroup'
        $failures[0].TargetObject.distinguishedName | Should -Be $script:State.broken
        $warned | Should -BeNullOrEmpty
        $timeline.FirstResult | Should -BeLessThan $timeline.LastInput -Because 'results stream while groups are still coming in'
        $timeline.MostEngines | Should -Be 1
        @((Get-GroupIDModuleState).EnginesStarted).Count | Should -Be 1
    }

    It 'says AlreadyUpgraded for every group on a second pass, by sAMAccountName and by ObjectGUID alone' {
        $some = @($script:State.ous[0].groups | Select-Object -First 20)
        $byName = @($some | Select-Object -First 10 | ForEach-Object { [string]$_.samAccountName } | Upgrade-Group -AnswerFile $script:Answers -Confirm:$false)
        $byGuid = @($some | Select-Object -Skip 10 | ForEach-Object { [pscustomobject]@{ ObjectGUID = [guid]$_.objectGuid } } | Upgrade-Group -AnswerFile $script:Answers -Confirm:$false)
        @($byName + $byGuid | ForEach-Object { $_.status } | Select-Object -Unique) | Should -Be @('AlreadyUpgraded')
        ($byName + $byGuid).Count | Should -Be 20
        @((Get-GroupIDModuleState).EnginesStarted).Count | Should -Be 1
    }

    It '-WhatIf with a container lists what it would upgrade and writes nothing' {
        $second = $script:State.ous[1]
        $shown = @(Upgrade-Group -AnswerFile $script:Answers -SearchContainer $second.ou -WhatIf)
        @($shown | Where-Object { $_.status -eq 'Upgraded' -or $_.status -eq 'AlreadyUpgraded' }).Count | Should -Be 0
        $again = @($second.groups | Select-Object -First 3 | ConvertTo-ADGroupShape | Upgrade-Group -AnswerFile $script:Answers -WhatIf)
        @($again | Where-Object { $_.status -eq 'Upgraded' -or $_.status -eq 'AlreadyUpgraded' }).Count | Should -Be 0
    }
}

Describe 'Stopping Upgrade-Group mid-groups' -Tag 'Groups' {
    It 'cancels at a group boundary, waits for the engine, and the next pass upgrades exactly the rest' {
        $second = $script:State.ous[1]
        $runspace = [runspacefactory]::CreateRunspace()
        $runspace.Open()
        try {
            $run = [powershell]::Create()
            $run.Runspace = $runspace
            [void]$run.AddScript("Import-Module '$script:ModuleManifest'; Upgrade-Group -AnswerFile '$($script:Answers)' -SearchContainer '$($second.ou)' -Confirm:`$false")
            $outputs = New-Object 'System.Management.Automation.PSDataCollection[psobject]'
            $async = $run.BeginInvoke([System.Management.Automation.PSDataCollection[psobject]]$null, $outputs)
            $deadline = [datetime]::UtcNow.AddSeconds(120)
            while ($outputs.Count -lt 50 -and -not $async.IsCompleted -and [datetime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 20 }
            $outputs.Count | Should -BeGreaterOrEqual 50
            $run.Stop()
            $seenBeforeStop = @($outputs | ForEach-Object { $_.distinguishedName })
            $seenBeforeStop.Count | Should -BeLessThan 1000 -Because 'the stop came before the last group'

            $ask = [powershell]::Create()
            $ask.Runspace = $runspace
            [void]$ask.AddScript('& (Get-Module GroupIDUpgrade) { $script:LastStop }')
            $stop = $ask.Invoke()[0]
            $stop.Outcome | Should -BeIn @('Cancelled', 'Finished')
            $stop.Method | Should -Be 'group.upgrade'

            $resume = [powershell]::Create()
            $resume.Runspace = $runspace
            [void]$resume.AddScript("Upgrade-Group -AnswerFile '$($script:Answers)' -SearchContainer '$($second.ou)' -Confirm:`$false; Remove-Module GroupIDUpgrade")
            $after = @($resume.Invoke())
            $after.Count | Should -Be 1000
            $already = @($after | Where-Object { $_.status -eq 'AlreadyUpgraded' } | ForEach-Object { $_.distinguishedName })
            $upgraded = @($after | Where-Object { $_.status -eq 'Upgraded' })
            ($already.Count + $upgraded.Count) | Should -Be 1000
            foreach ($dn in $seenBeforeStop) { $already | Should -Contain $dn }
            $upgraded.Count | Should -BeGreaterThan 0
            Wait-ProcessGone -Id $stop.ProcessId -Seconds 15 | Should -BeTrue
        }
        finally {
            $runspace.Dispose()
        }
    }
}
