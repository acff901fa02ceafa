"""The I/O the planner's rules depend on, gathered before the (pure) planning.

Forest roots come from rootDSE for domains the answer file lists under ``directories`` (the
engine does no DNS look-ups: R9 falls back to DNS-name inference for the others). Answered
credential questions are checked offline (R5..R7), and online with ``validateOnline``.
"""

from __future__ import annotations

from ..errors import EngineError
from ..model.settings import AnswerFile, DirectorySettings, PfxCredentials
from ..planning.planner import Blueprint, Facts
from ..reporting import Reporter


def dn_to_dns(dn: str) -> str:
    return ".".join(part.split("=", 1)[1] for part in dn.split(",") if part.strip().upper().startswith("DC="))


def directory_client(domain: str, settings: DirectorySettings, reporter: Reporter | None = None):
    """A DirectoryClient for a domain of the answer file (imported lazily: ldap3 is heavy)."""
    from ..storage.directory import DirectoryClient

    if not settings.verify_certificate and reporter is not None:
        reporter.log("warning", f"Certificate verification is switched off for {domain} ({settings.url}); "
                                "anyone on the network path can read the service account's password.")
    cred = settings.credential
    return DirectoryClient(settings.url, user=cred.user_name if cred else "", password=cred.password if cred else None,
                           ca_file=str(settings.ca_file) if settings.ca_file else None, start_tls=settings.start_tls,
                           verify=settings.verify_certificate)


def forest_root_over_ldap(domain: str, settings: DirectorySettings, reporter: Reporter) -> str | None:
    try:
        with directory_client(domain, settings, reporter) as client:
            root = client.root_dse().get("rootDomainNamingContext")
    except EngineError as exc:
        reporter.log("warning", f"Could not ask {domain} for its forest root ({exc.message}); "
                                "the forest is inferred from DNS names instead (R9).")
        return None
    return dn_to_dns(root).lower() if root else None


def gather_facts(answers: AnswerFile, first_pass: Blueprint, reporter: Reporter) -> Facts:
    facts = Facts()
    for unit in first_pass.units:
        if unit.kind != "new-store":
            continue
        for domain in unit.payload.get("domains", []):
            settings = answers.directories.get(domain)
            if settings is not None:
                root = forest_root_over_ldap(domain, settings, reporter)
                if root:
                    facts.ldap_roots[domain] = root
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
                from ..source.credentials import request_token

                kwargs = {"authority": creds.authority} if creds.authority else {}
                request_token(creds, owner=owner, ca_file=str(creds.authority_ca_file)
                              if creds.authority_ca_file else None, **kwargs)
        except EngineError as exc:
            facts.credential_problems[question.id] = exc
    return facts
