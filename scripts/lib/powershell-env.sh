# Shared by scripts/test and scripts/test-powershell: PowerShell 7 and Pester 5, pinned, from NuGet.
# pwsh is installed as a .NET global tool into a cache folder (never the user's own tools), Pester
# is downloaded as its NuGet package by `dotnet restore` of a throw-away project; both are reused
# from the cache on later runs. Nothing prompts and nothing but NuGet is reached.
#
#   ensure_powershell_env   sets PWSH and PESTER_MODULE, or POWERSHELL_MISSING to the reason
PWSH_VERSION=7.6.9
PESTER_VERSION=5.7.1
POWERSHELL_CACHE=${GROUPID_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/groupid-upgrade}

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
        local project
        project=$(mktemp -d)
        cat >"$project/pester-download.csproj" <<CSPROJ
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><TargetFramework>netstandard2.0</TargetFramework></PropertyGroup>
  <ItemGroup><PackageDownload Include="Pester" Version="[$PESTER_VERSION]" /></ItemGroup>
</Project>
CSPROJ
        if ! dotnet restore "$project/pester-download.csproj" --packages "$pester_dir" >&2 || [[ ! -f "$PESTER_MODULE" ]]; then
            rm -rf "$project"
            POWERSHELL_MISSING="Pester $PESTER_VERSION could not be downloaded from NuGet (dotnet restore failed, see above)"
            PESTER_MODULE=""
            return 1
        fi
        rm -rf "$project"
    fi
    export PWSH PESTER_MODULE
}
