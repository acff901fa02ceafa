# Shared by scripts/test and scripts/test-powershell: PowerShell 7 and Pester 5, pinned, from NuGet.
# pwsh is installed as a .NET global tool into a cache folder (never the user's own tools), Pester
# is downloaded as its NuGet package by `dotnet restore` of a throw-away project; both are reused
# from the cache on later runs. Nothing prompts and nothing but NuGet is reached.
#
#   ensure_powershell_env   sets PWSH and PESTER_MODULE, or POWERSHELL_MISSING to the reason
#   ensure_scriptdom        sets SCRIPTDOM_DLL (Microsoft's T-SQL parser, for tests/support/tsql_scriptdom.ps1),
#                           or SCRIPTDOM_MISSING to the reason
PWSH_VERSION=7.6.9
PESTER_VERSION=5.7.1
SCRIPTDOM_VERSION=180.140.0
POWERSHELL_CACHE=${GROUPID_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/groupid-upgrade}

# One NuGet package, pinned, into the cache's package folder: `dotnet restore` of a throw-away project
# that only downloads it (PackageDownload: no build, no dependency resolution, nothing referenced).
#   nuget_package_download NAME VERSION   returns 1 (restore's output on stderr) when it could not be had
nuget_package_download() {
    local name=$1 version=$2 project
    project=$(mktemp -d)
    cat >"$project/package-download.csproj" <<CSPROJ
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><TargetFramework>netstandard2.0</TargetFramework></PropertyGroup>
  <ItemGroup><PackageDownload Include="$name" Version="[$version]" /></ItemGroup>
</Project>
CSPROJ
    dotnet restore "$project/package-download.csproj" --packages "$POWERSHELL_CACHE/nuget" >&2
    local rc=$?
    rm -rf "$project"
    return "$rc"
}

ensure_powershell_env() {
    PWSH=""
    PESTER_MODULE=""
    POWERSHELL_MISSING=""
    export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
    export POWERSHELL_TELEMETRY_OPTOUT=1 POWERSHELL_UPDATECHECK=Off
    local tool_dir="$POWERSHELL_CACHE/pwsh-$PWSH_VERSION"
    local pester_dir="$POWERSHELL_CACHE/nuget"
    if [[ -x "$tool_dir/pwsh" ]] && "$tool_dir/pwsh" -NoProfile -NonInteractive -Command '$PSVersionTable.PSVersion.ToString()' 2>/dev/null | grep -qx "$PWSH_VERSION"; then
        PWSH="$tool_dir/pwsh"
    elif command -v dotnet >/dev/null 2>&1; then
        echo "powershell-env: installing PowerShell $PWSH_VERSION (dotnet tool) into $tool_dir" >&2
        rm -rf "$tool_dir"
        if ! dotnet tool install PowerShell --version "$PWSH_VERSION" --tool-path "$tool_dir" >&2; then
            POWERSHELL_MISSING="'dotnet tool install PowerShell --version $PWSH_VERSION' failed (see above)"
            return 1
        fi
        PWSH="$tool_dir/pwsh"
    elif command -v pwsh >/dev/null 2>&1; then
        # A machine without dotnet (a Windows or macOS workstation): its own pwsh and Pester 5.
        PWSH=$(command -v pwsh)
        PESTER_MODULE=$("$PWSH" -NoProfile -NonInteractive -Command '(Get-Module -ListAvailable Pester | Where-Object { $_.Version.Major -eq 5 } | Sort-Object Version -Descending | Select-Object -First 1).Path' 2>/dev/null || true)
        if [[ -z "$PESTER_MODULE" ]]; then
            POWERSHELL_MISSING="pwsh is on PATH but Pester 5 is not installed for it, and there is no dotnet to download Pester $PESTER_VERSION"
            return 1
        fi
        echo "powershell-env: no dotnet here; using $PWSH and $PESTER_MODULE as they are" >&2
        export PWSH PESTER_MODULE
        return 0
    else
        POWERSHELL_MISSING="neither pwsh $PWSH_VERSION nor dotnet (to install it from NuGet) is on this machine"
        return 1
    fi
    PESTER_MODULE="$pester_dir/pester/$PESTER_VERSION/tools/Pester.psd1"
    if [[ ! -f "$PESTER_MODULE" ]]; then
        echo "powershell-env: downloading Pester $PESTER_VERSION (NuGet) into $pester_dir" >&2
        if ! nuget_package_download Pester "$PESTER_VERSION" || [[ ! -f "$PESTER_MODULE" ]]; then
            POWERSHELL_MISSING="Pester $PESTER_VERSION could not be downloaded from NuGet (dotnet restore failed, see above)"
            PESTER_MODULE=""
            return 1
        fi
    fi
    export PWSH PESTER_MODULE
}

# Microsoft.SqlServer.TransactSql.ScriptDom, the parser SQL Server's own tools use: its net8.0 assembly,
# which pwsh 7 loads with Add-Type. Needs dotnet only for the first download.
ensure_scriptdom() {
    SCRIPTDOM_DLL=""
    SCRIPTDOM_MISSING=""
    export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
    local dll="$POWERSHELL_CACHE/nuget/microsoft.sqlserver.transactsql.scriptdom/$SCRIPTDOM_VERSION/lib/net8.0/Microsoft.SqlServer.TransactSql.ScriptDom.dll"
    if [[ ! -f "$dll" ]]; then
        if ! command -v dotnet >/dev/null 2>&1; then
            SCRIPTDOM_MISSING="Microsoft.SqlServer.TransactSql.ScriptDom $SCRIPTDOM_VERSION is not in $POWERSHELL_CACHE/nuget and there is no dotnet to download it from NuGet"
            return 1
        fi
        echo "powershell-env: downloading Microsoft.SqlServer.TransactSql.ScriptDom $SCRIPTDOM_VERSION (NuGet) into $POWERSHELL_CACHE/nuget" >&2
        if ! nuget_package_download Microsoft.SqlServer.TransactSql.ScriptDom "$SCRIPTDOM_VERSION" || [[ ! -f "$dll" ]]; then
            SCRIPTDOM_MISSING="Microsoft.SqlServer.TransactSql.ScriptDom $SCRIPTDOM_VERSION could not be downloaded from NuGet (dotnet restore failed, see above)"
            return 1
        fi
    fi
    SCRIPTDOM_DLL=$dll
    export SCRIPTDOM_DLL
}
