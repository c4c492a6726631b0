"""The hub's detector engine: install its packages on demand, then load it.

ONNX Runtime and OpenVINO publish no musl wheels, and Home Assistant OS and
the HA container are musl-based, so neither can be a manifest requirement
(the integration would not load there at all). They are installed through
Home Assistant's own requirements mechanism, under HA's package constraints,
only when the user picks a local engine; where that fails, the error says so
and the remote backend (an Open Inference Protocol server) still works.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
import importlib
import importlib.util
from typing import Any, Final
import urllib.parse

from homeassistant.core import HomeAssistant
from homeassistant.requirements import RequirementsNotFound, async_process_requirements

from .const import (
    BACKEND_AUTO,
    BACKEND_DEEPSTACK,
    BACKEND_ONNXRUNTIME,
    BACKEND_OPENVINO,
    BACKEND_REMOTE,
    CONF_API_KEY,
    CONF_BACKEND,
    CONF_INFERENCE_THREADS,
    CONF_MODEL_PATH,
    CONF_REMOTE_MODEL,
    CONF_REMOTE_URL,
    DEFAULT_BACKEND,
    DEFAULT_INFERENCE_THREADS,
    DOMAIN,
    LOGGER,
    SERVER_BACKENDS,
)
from .inference import (
    BackendUnavailableError,
    EngineChoice,
    FrameDetector,
    load_deepstack_detector,
    load_detector,
    load_remote_detector,
)

# Ranges, not pins: the newest release that fits the running HA's constraints
# and Python (1.22 has no wheel for Python 3.14, which HA 2026 runs on).
ONNXRUNTIME_REQUIREMENT: Final = "onnxruntime>=1.22.1,<2"
OPENVINO_REQUIREMENT: Final = "openvino>=2025.1,<2027"
ENGINE_REQUIREMENTS: Final[Mapping[str, tuple[str, ...]]] = {
    # "auto" needs ONNX Runtime as its fallback; it uses OpenVINO only when present.
    BACKEND_AUTO: (ONNXRUNTIME_REQUIREMENT,),
    BACKEND_ONNXRUNTIME: (ONNXRUNTIME_REQUIREMENT,),
    BACKEND_OPENVINO: (OPENVINO_REQUIREMENT,),
    BACKEND_REMOTE: (),
    BACKEND_DEEPSTACK: (),
}
LOCAL_ENGINES: Final[Mapping[str, EngineChoice]] = {
    BACKEND_AUTO: "auto",
    BACKEND_ONNXRUNTIME: "onnxruntime",
    BACKEND_OPENVINO: "openvino",
}
_MODULES: Final = {
    ONNXRUNTIME_REQUIREMENT: "onnxruntime",
    OPENVINO_REQUIREMENT: "openvino",
}
_DEEPSTACK_OPTIONS: Final = frozenset(
    {"labels", "min_scores", "score_threshold", "timeout", "retries", "warmup"}
)
# The flow checks a server quickly; cameras wait longer and retry.
FLOW_REMOTE_TIMEOUT: Final = 5.0


def _not_importable(requirements: list[str]) -> list[str]:
    """Return the requirements whose module does not import yet (blocking: reads sys.path)."""
    return [
        requirement
        for requirement in requirements
        if not _importable(_MODULES[requirement])
    ]


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def backend_of(data: Mapping[str, Any]) -> str:
    """Return the backend an entry selects (entries older than the choice: auto)."""
    return str(data.get(CONF_BACKEND) or DEFAULT_BACKEND)


def uses_server(data: Mapping[str, Any]) -> bool:
    """Return whether the entry's detector runs on a server (OIP or CodeProject.AI/DeepStack)."""
    return backend_of(data) in SERVER_BACKENDS


def remote_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be an inference server address, or None when it can."""
    parsed = urllib.parse.urlsplit(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return "not_http"
    if parsed.username or parsed.password:
        return "credentials"
    return None


async def async_install_engine(hass: HomeAssistant, backend: str) -> None:
    """Install what a local engine needs, the way HA installs manifest requirements.

    Raises BackendUnavailableError when pip cannot install it here (no wheel
    for this system, no network).
    """
    requirements = list(ENGINE_REQUIREMENTS.get(backend, ()))
    missing = await hass.async_add_executor_job(_not_importable, requirements)
    if missing:
        # pip takes a while for these packages; say why setup pauses.
        LOGGER.info("Installing %s for the local detector", ", ".join(missing))
    try:
        await async_process_requirements(hass, DOMAIN, requirements)
    except RequirementsNotFound as err:
        raise BackendUnavailableError(
            f"{', '.join(err.requirements)} cannot be installed on this system"
        ) from err
    if missing:
        # Packages pip just added are invisible to the import system's cached listings.
        importlib.invalidate_caches()
        LOGGER.info("Installed %s", ", ".join(missing))


async def async_load_entry_detector(
    hass: HomeAssistant, data: Mapping[str, Any], **options: Any
) -> FrameDetector:
    """Load the detector the hub entry's data describes (installing a local engine first).

    ``options`` are `load_detector` keywords shared by every backend (labels,
    scores, warm-up). Raises the inference package's DetectorError subclasses.
    """
    backend = backend_of(data)
    if backend == BACKEND_DEEPSTACK:
        # The server runs its own model: only the filtering and HTTP options apply.
        return await hass.async_add_executor_job(
            partial(
                load_deepstack_detector,
                str(data[CONF_REMOTE_URL]),
                api_key=data.get(CONF_API_KEY) or None,
                **{k: v for k, v in options.items() if k in _DEEPSTACK_OPTIONS},
            )
        )
    if backend == BACKEND_REMOTE:
        return await hass.async_add_executor_job(
            partial(
                load_remote_detector,
                str(data[CONF_REMOTE_URL]),
                str(data[CONF_REMOTE_MODEL]),
                **options,
            )
        )
    engine = LOCAL_ENGINES.get(backend, BACKEND_AUTO)
    await async_install_engine(hass, engine)
    return await hass.async_add_executor_job(
        partial(
            load_detector,
            data.get(CONF_MODEL_PATH) or None,
            engine=engine,
            intra_op_num_threads=int(
                data.get(CONF_INFERENCE_THREADS, DEFAULT_INFERENCE_THREADS)
            ),
            **options,
        )
    )
