"""The I/O the planner's rules depend on, gathered before the (pure) planning.

Forest roots come from rootDSE for domains the answer file lists under ``directories`` (the
engine does no DNS look-ups: R9 falls back to DNS-name inference for the others). Answered
credential questions are checked offline (R5..R7), and online with ``validateOnline``.
"""

from __future__ import annotations

from ..errors import EngineError
from ..model.settings import AnswerFile, Credential, DirectorySettings, PfxCredentials
from ..planning.forests import infer_forest_roots
from ..planning.planner import Blueprint, Facts
from ..reporting import Reporter
from ..storage.connections import directory_client


def dn_to_dns(dn: str) -> str:
    return ".".join(part.split("=", 1)[1] for part in dn.split(",") if part.strip().upper().startswith("DC="))


def forest_root_over_ldap(domain: str, settings: DirectorySettings, reporter: Reporter) -> str | None:
    try:
        with directory_client(domain, settings, reporter, anonymous=True) as client:
            root = client.root_dse().get("rootDomainNamingContext")
    except EngineError as exc:
        reporter.log("warning", f"Could not ask {domain} for its forest root ({exc.message}); "
                                "the forest is inferred from DNS names instead (R9).")
        return None
    return dn_to_dns(root).lower() if root else None


def forest_wide_read_problem(root: str, domain: str, settings: DirectorySettings, account: Credential,
                             question: str) -> EngineError | None:
    """R9 with validateOnline: the service account binds to a DC of ``domain`` and reads the forest's
    configuration partition and the domain's naming context, as a forest-wide store needs."""
    scoped = settings.model_copy(update={"credential": account})
    try:
        with directory_client(domain, scoped) as client:
            naming_context = client.root_dse().get("defaultNamingContext")
            readable = client.can_read_configuration_partition() and bool(
                naming_context and client.read_entry(naming_context, ["objectClass"]))
    except EngineError as exc:
        return EngineError(exc.error_id, f"The service account {account.user_name} of {question} could not be "
                                         f"checked on {domain}: {exc.message}", target=f"answers.{question}",
                           recommended_action=exc.recommended_action)
    if readable:
        return None
    return EngineError("ServiceAccountCannotReadForest",
                       f"The service account {account.user_name} of {question} binds to {settings.url} but "
                       f"cannot read the forest {root} (its configuration partition or {domain}'s naming "
                       "context).", target=f"answers.{question}",
                       recommended_action="Give the account read access on the whole forest (Authenticated "
                                          "Users have it by default), or answer with another account.")


def check_service_accounts(answers: AnswerFile, domains: list[str], facts: Facts, reporter: Reporter) -> None:
    """Each answered ``forest:<root>:serviceAccount`` checked on every domain of its forest that the
    answer file lists under ``directories``; accounts without a password of their own are reported."""
    roots = infer_forest_roots(domains, facts.ldap_roots)
    forests: dict[str, list[str]] = {}
    for domain, (root, _how) in roots.items():
        forests.setdefault(root, []).append(domain)
    for root, members in sorted(forests.items()):
        question = f"forest:{root}:serviceAccount"
        listed = [d for d in sorted(members) if d in answers.directories]
        raw = answers.answers.get(question)
        if not listed or not isinstance(raw, dict):
            continue
        try:
            account = Credential.model_validate({k: v for k, v in raw.items() if k != "passwordFromJob"})
        except ValueError:
            continue  # the planner reports the malformed answer itself
        if account.password is None:
            reporter.log("warning", f"The service account {account.user_name} of {question} has no password in "
                                    "the answer file (a gMSA, or passwordFromJob); it is not checked online.")
            continue
        for domain in listed:
            problem = forest_wide_read_problem(root, domain, answers.directories[domain], account, question)
            if problem is not None:
                facts.credential_problems[question] = problem
                break


def gather_facts(answers: AnswerFile, first_pass: Blueprint, reporter: Reporter) -> Facts:
    facts = Facts()
    new_store_domains: list[str] = []
    for unit in first_pass.units:
        if unit.kind != "new-store":
            continue
        for domain in unit.payload.get("domains", []):
            new_store_domains.append(domain)
            settings = answers.directories.get(domain)
            if settings is not None:
                root = forest_root_over_ldap(domain, settings, reporter)
                if root:
                    facts.ldap_roots[domain] = root
    if answers.validate_online:
        check_service_accounts(answers, new_store_domains, facts, reporter)
    pfx_questions = [q for q in first_pass.plan.questions if q.answer_kind == "pfxCredentials"]
    for question in pfx_questions:
        raw = answers.answers.get(question.id)
        if raw is None:
            continue
        try:
            creds = PfxCredentials.model_validate(raw)
        except ValueError:
            continue  # the planner reports the malformed answer itself
        owner = f"{question.object_name} ({question.id})"
        try:
            from ..source.credentials import check_pfx

            check = check_pfx(creds, owner=owner)
            facts.credential_thumbprints[question.id] = check.thumbprint
            if answers.validate_online:
                from ..source.credentials import DEFAULT_AUTHORITY, request_token

                request_token(creds, owner=owner, authority=creds.authority or DEFAULT_AUTHORITY,
                              ca_file=str(creds.authority_ca_file) if creds.authority_ca_file else None)
        except EngineError as exc:
            facts.credential_problems[question.id] = exc
    return facts
