<#
Parses T-SQL with Microsoft.SqlServer.TransactSql.ScriptDom, the parser of SQL Server's own tools, under
the grammars of SQL Server 2016 (TSql130Parser) and 2022 (TSql160Parser). One process for any number of
statements: pwsh and the assembly take seconds to start, a statement takes well under a millisecond.

  pwsh -NoProfile -NonInteractive -File tsql_scriptdom.ps1 -ScriptDom <dll> -InputFile <in.jsonl> -OutputFile <out.jsonl>

In:  one JSON object a line, {"name": "...", "sql": "..."}.
Out: one JSON object a line, in the same order, {"name", "results": {"TSql130": r, "TSql160": r}} where r is
     {"errors": [{"line", "column", "number", "message"}], "statements": ["SelectStatement", ...],
      "details": ["Kind=VerifyOnly", "Options=Checksum,CopyOnly", ...]} (details: for BACKUP and RESTORE only).
Quoted identifiers are on, as every SQL Server ODBC connection sets them.
Exit 0 when every statement was read and parsed (whatever errors the parser found); 2 when the input is bad.
#>
param(
    [Parameter(Mandatory)] [string] $ScriptDom,
    [Parameter(Mandatory)] [string] $InputFile,
    [Parameter(Mandatory)] [string] $OutputFile
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

Add-Type -Path $ScriptDom
$grammars = [ordered]@{
    TSql130 = [Microsoft.SqlServer.TransactSql.ScriptDom.TSql130Parser]
    TSql160 = [Microsoft.SqlServer.TransactSql.ScriptDom.TSql160Parser]
}
$parsers = [ordered]@{}
foreach ($name in $grammars.Keys) { $parsers[$name] = $grammars[$name]::new($true) }

function Get-StatementDetail([object] $statement) {
    $details = [System.Collections.Generic.List[string]]::new()
    if ($statement -is [Microsoft.SqlServer.TransactSql.ScriptDom.RestoreStatement]) {
        $details.Add("Kind=$($statement.Kind)")
    }
    if ($statement -is [Microsoft.SqlServer.TransactSql.ScriptDom.BackupStatement] -or
        $statement -is [Microsoft.SqlServer.TransactSql.ScriptDom.RestoreStatement]) {
        $kinds = @($statement.Options | ForEach-Object { $_.OptionKind.ToString() })
        $details.Add("Options=$($kinds -join ',')")
    }
    return , $details.ToArray()
}

$utf8 = [System.Text.UTF8Encoding]::new($false)
$jsonOptions = [System.Text.Json.JsonSerializerOptions]::new()
$writer = [System.IO.StreamWriter]::new($OutputFile, $false, $utf8)
try {
    $number = 0
    foreach ($line in [System.IO.File]::ReadLines($InputFile, $utf8)) {
        $number++
        if ($line.Trim() -eq '') { continue }
        try {
            $item = [System.Text.Json.JsonSerializer]::Deserialize($line, [System.Collections.Generic.Dictionary[string, string]], $jsonOptions)
        } catch {
            [Console]::Error.WriteLine("tsql_scriptdom: line $number of ${InputFile} is not {`"name`": string, `"sql`": string}: $($_.Exception.Message)")
            exit 2
        }
        if ($null -eq $item -or -not $item.ContainsKey('sql') -or -not $item.ContainsKey('name')) {
            [Console]::Error.WriteLine("tsql_scriptdom: line $number of ${InputFile} lacks `"name`" or `"sql`"")
            exit 2
        }
        $results = [ordered]@{}
        foreach ($grammar in $parsers.Keys) {
            $errors = $null
            $tree = $parsers[$grammar].Parse([System.IO.StringReader]::new($item['sql']), [ref] $errors)
            $statements = [System.Collections.Generic.List[string]]::new()
            $details = [System.Collections.Generic.List[string]]::new()
            if ($null -ne $tree) {
                foreach ($batch in $tree.Batches) {
                    foreach ($statement in $batch.Statements) {
                        $statements.Add($statement.GetType().Name)
                        foreach ($detail in (Get-StatementDetail $statement)) { $details.Add($detail) }
                    }
                }
            }
            $found = [System.Collections.Generic.List[object]]::new()
            foreach ($e in $errors) {
                $found.Add([ordered]@{ line = $e.Line; column = $e.Column; number = $e.Number; message = $e.Message })
            }
            $results[$grammar] = [ordered]@{
                errors     = $found
                statements = $statements
                details    = $details
            }
        }
        $writer.WriteLine([System.Text.Json.JsonSerializer]::Serialize([ordered]@{ name = $item['name']; results = $results }, [object], $jsonOptions))
    }
} finally {
    $writer.Dispose()
}
exit 0
