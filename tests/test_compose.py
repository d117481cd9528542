"""The production shape, checked without a Docker engine: docker-compose.yml and the
Dockerfile are parsed and held to what the README promises."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from desk.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict] = COMPOSE["services"]

# What DESIGN.md and the README name, by role.
DATABASE, TEMPORAL, TEMPORAL_UI, SETUP, API, WORKER = (
    "postgres",
    "temporal",
    "temporal-ui",
    "setup",
    "api",
    "worker",
)
APP_SERVICES = (SETUP, API, WORKER)
LONG_RUNNING = (DATABASE, TEMPORAL, TEMPORAL_UI, API, WORKER)
SHARED_SETTINGS = (
    "DESK_DATABASE_URL",
    "DESK_TEMPORAL_ADDRESS",
    "DESK_TEMPORAL_NAMESPACE",
    "DESK_TEMPORAL_TASK_QUEUE",
    "DESK_JWT_SECRET",
)
SECRET_NAME = re.compile(r"PASSWORD|PWD|SECRET|TOKEN|_KEY$", re.IGNORECASE)
REQUIRED_VARIABLE = re.compile(r"^\$\{[A-Z_][A-Z0-9_]*:\?[^}]*\}$")
DRAIN_SECONDS = 30  # the API's and the worker's graceful shutdown (api.py, worker.py)


def env(service: str) -> dict[str, str]:
    environment = SERVICES[service].get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {name: str(value) for name, value in environment.items()}


def depends_on(service: str) -> dict[str, str]:
    """{dependency: condition}; the short list form means service_started."""
    deps = SERVICES[service].get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def command(service: str) -> list[str]:
    value = SERVICES[service]["command"]
    return shlex.split(value) if isinstance(value, str) else list(value)


# scheme://user:password@host[:port]/...; the password may be a ${VAR:?message}, which
# urllib would misread (its "?" starts a query).
_URL = re.compile(r"^[\w+.-]+://(?:(?P<user>[^:@/]*)(?::(?P<password>.*))?@)?(?P<host>[^@/:]+)")


def url_parts(value: str) -> tuple[str | None, str | None]:
    """(password, host) of a URL-like value; (None, None) if it is not one."""
    match = _URL.match(value)
    return (match["password"], match["host"]) if match else (None, None)


def seconds(duration: str) -> float:
    total = 0.0
    for amount, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration):
        total += float(amount) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def all_dependencies(service: str) -> set[str]:
    seen: set[str] = set()
    stack = [service]
    while stack:
        for dep in depends_on(stack.pop()):
            if dep not in seen:
                seen.add(dep)
                stack.append(dep)
    return seen


# --- Services and images -----------------------------------------------------------------


def test_every_service_the_design_names_is_present():
    missing = {DATABASE, TEMPORAL, TEMPORAL_UI, SETUP, API, WORKER} - set(SERVICES)
    assert not missing


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_image_is_pinned(name):
    image = SERVICES[name].get("image")
    assert image, f"{name} has no image (a built service needs one too, to pin and share it)"
    repository, _, digest = image.partition("@")
    last = repository.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    assert digest.startswith("sha256:") or tag, f"{name}: {image} has neither tag nor digest"
    assert tag != "latest", f"{name}: {image} is not pinned"


def test_the_api_and_the_worker_run_the_same_image_with_their_own_command():
    assert SERVICES[API]["image"] == SERVICES[WORKER]["image"] == SERVICES[SETUP]["image"]
    assert "build" in SERVICES[SETUP]  # built once, by the job that runs first
    assert command(API) == ["python", "-m", "api"]
    assert command(WORKER) == ["python", "-m", "worker"]


def test_the_database_keeps_its_data_in_a_volume():
    volumes = [str(v) for v in SERVICES[DATABASE].get("volumes", [])]
    named = [v.split(":", 1)[0] for v in volumes if v.endswith(":/var/lib/postgresql/data")]
    assert named and named[0] in (COMPOSE.get("volumes") or {})


def test_temporal_persists_in_that_postgresql():
    temporal = env(TEMPORAL)
    assert temporal["DB"].startswith("postgres")
    assert temporal["POSTGRES_SEEDS"] == DATABASE
    assert temporal["POSTGRES_USER"] == env(DATABASE)["POSTGRES_USER"]
    assert temporal["POSTGRES_PWD"] == env(DATABASE)["POSTGRES_PASSWORD"]


# --- Settings ------------------------------------------------------------------------------


@pytest.mark.parametrize("setting", SHARED_SETTINGS)
def test_the_api_worker_and_setup_share_database_and_temporal_settings(setting):
    values = {service: env(service).get(setting) for service in APP_SERVICES}
    assert None not in values.values(), values
    assert len(set(values.values())) == 1, values


def test_the_app_talks_to_the_services_of_this_file():
    app = env(API)
    assert url_parts(app["DESK_DATABASE_URL"])[1] == DATABASE
    assert app["DESK_TEMPORAL_ADDRESS"] == f"{TEMPORAL}:7233"
    assert env(TEMPORAL_UI)["TEMPORAL_ADDRESS"] == f"{TEMPORAL}:7233"
    assert app["DESK_ENV"] == "prod"  # the API then refuses the development JWT secret


@pytest.mark.parametrize("service", APP_SERVICES)
def test_every_desk_variable_is_a_real_setting(service):
    known = {f"DESK_{name.upper()}" for name in Settings.model_fields}
    unknown = {name for name in env(service) if name.startswith("DESK_")} - known
    assert not unknown, f"{service} sets unknown settings {unknown}"


def _secrets() -> list[tuple[str, str, str]]:
    found = []
    for service in SERVICES:
        for name, value in env(service).items():
            if SECRET_NAME.search(name):
                found.append((service, name, value))
            elif (password := url_parts(value)[0]) is not None:
                found.append((service, f"{name} (password)", password))
    return found


def test_there_are_secrets_to_check():
    names = {name for _, name, _ in _secrets()}
    assert {"POSTGRES_PASSWORD", "DESK_JWT_SECRET", "DESK_DATABASE_URL (password)"} <= names


@pytest.mark.parametrize(("service", "name", "value"), _secrets())
def test_secrets_come_from_the_environment_and_are_required(service, name, value):
    assert REQUIRED_VARIABLE.match(value), (
        f"{service}: {name} must be ${{VAR:?message}} (from the environment, required), "
        f"not {value!r}"
    )


# --- Scale -------------------------------------------------------------------------------------


def test_the_number_of_workers_and_api_processes_comes_from_the_environment():
    assert SERVICES[WORKER]["deploy"]["replicas"] == "${DESK_WORKERS:-1}"
    assert env(API)["DESK_API_PROCESSES"] == "${DESK_API_PROCESSES:-1}"
    # Replicas of the worker are interchangeable: nothing pins one container.
    assert "container_name" not in SERVICES[WORKER]
    assert not SERVICES[WORKER].get("ports")


def test_setup_sets_the_namespace_retention_from_the_environment():
    default = Settings(_env_file=None).temporal_retention_days  # compose uses the same
    assert env(SETUP)["DESK_TEMPORAL_RETENTION_DAYS"] == (
        f"${{DESK_TEMPORAL_RETENTION_DAYS:-{default}}}"
    )


# --- Health, restarts, order ---------------------------------------------------------------


@pytest.mark.parametrize("service", [DATABASE, TEMPORAL, API, WORKER])
def test_long_running_services_have_health_checks(service):
    test = SERVICES[service].get("healthcheck", {}).get("test")
    assert test and test[0] in {"CMD", "CMD-SHELL"}


@pytest.mark.parametrize("service", LONG_RUNNING)
def test_long_running_services_restart(service):
    assert SERVICES[service].get("restart") in {"always", "unless-stopped"}


def _one_shots() -> list[str]:
    return sorted(
        name
        for name in SERVICES
        if any(
            cond == "service_completed_successfully"
            for other in SERVICES
            for dep, cond in depends_on(other).items()
            if dep == name
        )
    )


def test_one_shot_jobs_retry_on_failure_only():
    assert SETUP in _one_shots()
    for job in _one_shots():
        assert str(SERVICES[job].get("restart", "")).startswith("on-failure"), job


def test_health_checks_probe_the_configured_ports():
    api_port = env(API)["DESK_API_PORT"]
    worker_port = env(WORKER)["DESK_WORKER_METRICS_PORT"]
    assert f"127.0.0.1:{api_port}/healthz" in " ".join(SERVICES[API]["healthcheck"]["test"])
    assert f"127.0.0.1:{worker_port}/healthz" in " ".join(SERVICES[WORKER]["healthcheck"]["test"])
    assert env(WORKER)["DESK_WORKER_METRICS_HOST"] == "0.0.0.0"  # noqa: S104 - in its container


@pytest.mark.parametrize("service", [API, WORKER])
def test_the_api_and_the_worker_get_time_to_drain(service):
    assert seconds(str(SERVICES[service].get("stop_grace_period", "10s"))) > DRAIN_SECONDS


def test_every_dependency_exists_and_the_graph_has_no_cycle():
    for service in SERVICES:
        assert set(depends_on(service)) <= set(SERVICES), service
        assert service not in all_dependencies(service), f"{service} depends on itself"


def test_setup_runs_after_the_database_and_temporal_are_up():
    assert depends_on(SETUP)[DATABASE] == "service_healthy"
    assert TEMPORAL in all_dependencies(SETUP)
    assert depends_on(TEMPORAL)[DATABASE] == "service_healthy"


def test_setup_creates_search_attributes_then_migrates_and_stops_on_failure():
    script = " ".join(command(SETUP))
    temporal_setup = script.index("desk temporal setup")
    db_upgrade = script.index("desk db upgrade")
    assert temporal_setup < db_upgrade
    assert "&&" in script[temporal_setup:db_upgrade]


@pytest.mark.parametrize("service", [API, WORKER])
def test_the_api_and_the_worker_start_after_setup_succeeded(service):
    assert depends_on(service)[SETUP] == "service_completed_successfully"
    assert depends_on(service)[TEMPORAL] == "service_healthy"
    assert depends_on(service)[DATABASE] == "service_healthy"


# --- The image -------------------------------------------------------------------------------

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _instructions(keyword: str) -> list[str]:
    logical = re.sub(r"\\\n", " ", DOCKERFILE)
    return [
        line.split(None, 1)[1].strip()
        for line in logical.splitlines()
        if line.strip().upper().startswith(keyword + " ")
    ]


def test_the_image_is_slim_python_311_pinned_to_a_patch_release():
    [base] = _instructions("FROM")
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", base), base


def test_the_image_runs_as_a_non_root_user():
    users = _instructions("USER")
    assert users and users[-1] not in {"root", "0"}


def test_the_image_installs_the_package_and_defaults_to_the_api():
    assert any("pip install" in run and " -e ." in run for run in _instructions("RUN"))
    # The user cannot write /app: bytecode is compiled at build time (bench/RESULTS.md).
    assert any("compileall" in run and "workflows" in run for run in _instructions("RUN"))
    assert _instructions("CMD")[-1] == '["python", "-m", "api"]'


def test_the_build_context_leaves_out_local_state_and_secrets():
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", ".env", "data", ".git"} <= ignored
    assert "migrations" not in ignored  # `desk db upgrade` runs them from the image
