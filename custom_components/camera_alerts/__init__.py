"""Camera Alerts: on-device object detection for Home Assistant cameras."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
import homeassistant.helpers.config_validation as cv
from homeassistant.helpers.typing import ConfigType

from .camera_runtime import snapshot_dir
from .const import CONF_NAME, DOMAIN, SUBENTRY_CAMERA
from .entity import hub_device_info
from .pipeline.retention import remove_snapshot_folder
from .runtime import CameraAlertsConfigEntry, CameraAlertsRuntime, config_fingerprint
from .services import async_setup_services

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.CAMERA,
    Platform.EVENT,
    Platform.SENSOR,
    Platform.SWITCH,
]

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the integration's services once, for every entry."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: CameraAlertsConfigEntry) -> bool:
    """Start the runtime and its platforms."""
    runtime = CameraAlertsRuntime(hass, entry)
    try:
        await runtime.async_setup()
    except BaseException:
        await runtime.async_shutdown()
        raise
    entry.runtime_data = runtime
    # The hub must exist before the host and camera devices name it as their parent.
    runtime.hub_device_id = (
        dr.async_get(hass)
        .async_get_or_create(config_entry_id=entry.entry_id, **hub_device_info(entry))
        .id
    )
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    # Options, reconfigure and subentry changes all arrive here; a reload applies them.
    entry.async_on_unload(entry.add_update_listener(_async_entry_updated))
    # HA calls update listeners only once they are registered: a camera or board
    # added while this setup ran (a reload in progress) would be missed until the
    # next reload. Not tracked by the entry: the reload unloads it.
    if runtime.built_from != config_fingerprint(entry):
        hass.async_create_task(_async_entry_updated(hass, entry), eager_start=False)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: CameraAlertsConfigEntry) -> bool:
    """Stop the platforms, then everything the runtime started."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        await entry.runtime_data.async_shutdown()
    return unloaded


async def _async_entry_updated(hass: HomeAssistant, entry: CameraAlertsConfigEntry) -> None:
    """Reload the entry so a changed setting or subentry takes effect."""
    runtime = entry.runtime_data
    removed_boards = [
        board
        for subentry_id, board in runtime.serial_boards.items()
        if subentry_id not in entry.subentries
    ]
    # A removed camera's snapshots go with it (unless a remaining camera shares its folder).
    kept_folders = {
        snapshot_dir(hass, subentry.data[CONF_NAME])
        for subentry in entry.subentries.values()
        if subentry.subentry_type == SUBENTRY_CAMERA
    }
    removed_folders = {
        snapshot_dir(hass, subentry.data[CONF_NAME])
        for subentry_id, subentry in runtime.camera_subentries.items()
        if subentry_id not in entry.subentries
    } - kept_folders
    await hass.config_entries.async_reload(entry.entry_id)
    for board in removed_boards:
        await board.async_remove()
    for folder in removed_folders:
        await hass.async_add_executor_job(remove_snapshot_folder, folder)
