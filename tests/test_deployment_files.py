"""The container files, checked by reading them: no Docker engine is needed.

docker-compose.yml, the Dockerfile and .env.example must agree with the code:
the services and their healthchecks exist, beat runs once, every setting the
code reads is documented, and the commands name modules that exist.
"""

import ast
import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml
from celery import Celery
from celery.app.utils import find_app

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_SOURCE = (ROOT / "config" / "settings.py").read_text()
ENV_EXAMPLE = (ROOT / ".env.example").read_text()
APP_SERVICES = ("migrate", "web", "worker", "beat")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined."""
    instructions, pending = [], ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def as_argv(command) -> list[str]:
    """A compose `command` or `healthcheck.test`, or a Dockerfile exec form, as argv."""
    if isinstance(command, str):
        return command.split()
    if command and command[0] in {"CMD", "CMD-SHELL"}:
        return " ".join(command[1:]).split()
    return list(command)


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def settings_env_vars() -> set[str]:
    return set(
        re.findall(
            r"env_(?:str|bool|int|float|list|networks)\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']",
            SETTINGS_SOURCE,
        )
    )


def assert_wsgi_module_exists(argv: list[str]) -> None:
    """gunicorn's first positional argument is `module[:variable]`."""
    target = next(arg for arg in argv[1:] if not arg.startswith("-") and "." in arg)
    module, _, variable = target.partition(":")
    assert module == "config.wsgi"
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin
    tree = ast.parse(Path(spec.origin).read_text())
    assigned = {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert (variable or "application") in assigned


def test_it_defines_every_service_with_a_healthcheck(services):
    for name in ("postgres", "redis", "web", "worker", "beat"):
        assert name in services, name
        healthcheck = services[name].get("healthcheck")
        assert healthcheck and healthcheck.get("test"), name
        assert not healthcheck.get("disable"), name
    assert "migrate" in services


def test_it_pins_the_images_and_keeps_queued_wake_ups_across_redis_restarts(services):
    assert services["postgres"]["image"] == "postgres:16-alpine"
    assert services["redis"]["image"] == "redis:7-alpine"
    redis_command = as_argv(services["redis"]["command"])
    assert option(redis_command, "--appendonly") == "yes"
    assert any(volume.endswith(":/data") for volume in services["redis"]["volumes"])


def test_it_runs_exactly_one_beat(services):
    beat = services["beat"]
    assert beat.get("deploy", {}).get("replicas", 1) == 1
    assert beat.get("scale", 1) == 1


def test_it_starts_the_app_after_migrate_has_succeeded(services):
    assert services["migrate"]["restart"] == "no"
    assert as_argv(services["migrate"]["command"])[-3:] == ["manage.py", "migrate", "--noinput"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("web", "worker"):
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"]["condition"] == "service_completed_successfully", name
        assert depends_on["redis"]["condition"] == "service_healthy", name


def test_it_gives_every_app_service_the_same_environment(compose, services):
    assert "version" not in compose
    for name in APP_SERVICES:
        service = services[name]
        assert service["env_file"] == ".env", name
        assert service["build"] == ".", name
        environment = service["environment"]
        assert "@postgres:5432/" in environment["DATABASE_URL"], name
        assert "redis://redis:6379/" in environment["CELERY_BROKER_URL"], name
    for name in ("web", "worker", "beat"):
        assert services[name]["restart"] == "unless-stopped", name


def test_it_documents_every_setting_in_env_example():
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE, flags=re.MULTILINE))
    read = settings_env_vars()
    assert {"DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY", "TWILIO_AUTH_TOKEN"} <= read
    assert read - documented == set()


def test_it_comments_every_variable_in_env_example():
    lines = ENV_EXAMPLE.splitlines()
    for number, line in enumerate(lines):
        if re.match(r"^[A-Z][A-Z0-9_]*=", line):
            assert lines[number - 1].startswith("# "), line


def test_it_ships_no_real_looking_twilio_credentials():
    values = dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", ENV_EXAMPLE, flags=re.MULTILINE))
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_MESSAGING_SERVICE_SID", "TWILIO_AUTH_TOKEN"):
        assert not re.search(r"[0-9a-f]{32}", values[name]), name
    assert values["SMS_BACKEND"] == "console"


def test_it_installs_the_runtime_lock_and_runs_as_a_non_root_user():
    instructions = dockerfile_instructions()
    runs = [arguments for keyword, arguments in instructions if keyword == "RUN"]
    assert any(
        re.search(r"pip install --no-cache-dir -r \S*requirements\.lock\b", run) for run in runs
    )
    assert not any("requirements-dev.lock" in arguments for _, arguments in instructions)
    froms = [arguments for keyword, arguments in instructions if keyword == "FROM"]
    assert all(base.startswith("python:3.11-slim") for base in froms)
    users = [arguments for keyword, arguments in instructions if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert ("EXPOSE", "8000") in instructions


def test_it_collects_static_files_with_build_only_secrets():
    instructions = dockerfile_instructions()
    collect = next(a for k, a in instructions if k == "RUN" and "collectstatic" in a)
    assert "SECRET_KEY=" in collect and "DATABASE_URL=" in collect
    env = " ".join(a for k, a in instructions if k in {"ENV", "ARG"})
    assert "SECRET_KEY" not in env and "DATABASE_URL" not in env


def test_it_serves_config_wsgi_with_gunicorn(services):
    cmd = next(a for k, a in dockerfile_instructions() if k == "CMD")
    for argv in (json.loads(cmd), as_argv(services["web"]["command"])):
        assert argv[0] == "gunicorn"
        assert option(argv, "--bind") == "0.0.0.0:8000"
        assert option(argv, "--access-logfile") == "-"
        assert_wsgi_module_exists(argv)


def test_it_points_celery_at_the_config_app(services):
    for name in ("worker", "beat"):
        argv = as_argv(services[name]["command"])
        assert argv[0] == "celery" and option(argv, "--app") == "config", name
        assert isinstance(find_app(option(argv, "--app")), Celery), name
    assert "worker" in as_argv(services["worker"]["command"])
    beat = as_argv(services["beat"]["command"])
    assert "beat" in beat
    assert option(beat, "--schedule").startswith("/app/var/")


def test_it_health_checks_the_celery_nodes_by_their_own_names(services):
    for name, node in (("worker", "celery"), ("beat", "celerybeat")):
        test = services[name]["healthcheck"]["test"]
        assert test[0] == "CMD-SHELL", name
        argv = as_argv(test)
        assert option(argv, "--app") == "config", name
        assert argv[argv.index("inspect") + 1] == "ping", name
        # `$$` is compose's escape for a literal `$`, expanded by the container's shell.
        assert option(argv, "--destination") == f"{node}@$$HOSTNAME", name
        assert "--timeout" in argv, name
    assert "--enable-remote-control" in as_argv(services["beat"]["command"])


def test_it_health_checks_web_on_healthz_without_curl(services):
    test = services["web"]["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1] == "python"
    assert "urllib" in test[-1] and "http://127.0.0.1:8000/healthz" in test[-1]
    assert re.search(r"""path\(\s*["']healthz["']""", (ROOT / "config" / "urls.py").read_text())
