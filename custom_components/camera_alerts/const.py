"""Constants for the Camera Alerts integration."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Final

DOMAIN: Final = "camera_alerts"
LOGGER = logging.getLogger(__package__)

EVENT_DETECTION: Final = "camera_alerts_detection"

# Hub entry data (set in the user/reconfigure steps).
CONF_MODEL_PATH: Final = "model_path"
CONF_INFERENCE_THREADS: Final = "inference_threads"
DEFAULT_INFERENCE_THREADS: Final = 2
CONF_BACKEND: Final = "backend"
# "auto": OpenVINO on Intel CPUs where it is installed, ONNX Runtime otherwise.
BACKEND_AUTO: Final = "auto"
BACKEND_ONNXRUNTIME: Final = "onnxruntime"
BACKEND_OPENVINO: Final = "openvino"
BACKEND_REMOTE: Final = "remote"
# A CodeProject.AI or DeepStack server: it runs its own model and answers with boxes.
BACKEND_DEEPSTACK: Final = "deepstack"
BACKENDS: Final = (
    BACKEND_AUTO,
    BACKEND_ONNXRUNTIME,
    BACKEND_OPENVINO,
    BACKEND_REMOTE,
    BACKEND_DEEPSTACK,
)
SERVER_BACKENDS: Final = (BACKEND_REMOTE, BACKEND_DEEPSTACK)
DEFAULT_BACKEND: Final = BACKEND_AUTO
CONF_REMOTE_URL: Final = "remote_url"
CONF_REMOTE_MODEL: Final = "remote_model"
CONF_API_KEY: Final = "api_key"

# Hub entry options (sinks; they may change at any time).
CONF_MQTT_ENABLED: Final = "mqtt_enabled"
CONF_MQTT_PREFIX: Final = "mqtt_prefix"
DEFAULT_MQTT_PREFIX: Final = "camera_alerts"
CONF_AMQP_ENABLED: Final = "amqp_enabled"
CONF_AMQP_URL: Final = "amqp_url"
CONF_AMQP_EXCHANGE: Final = "amqp_exchange"
DEFAULT_AMQP_EXCHANGE: Final = "camera_alerts"
CONF_FRIGATE_ENABLED: Final = "frigate_enabled"
CONF_FRIGATE_URL: Final = "frigate_url"
CONF_FRIGATE_USERNAME: Final = "frigate_username"
CONF_FRIGATE_PASSWORD: Final = "frigate_password"

# Subentry types.
SUBENTRY_CAMERA: Final = "camera"
SUBENTRY_SERIAL: Final = "serial"

HOST_UPDATE_INTERVAL: Final = timedelta(seconds=30)

# Services.
SERVICE_START: Final = "start"
SERVICE_STOP: Final = "stop"
SERVICE_RESTART: Final = "restart"
SERVICE_GET_STATUS: Final = "get_status"
ATTR_CAMERA: Final = "camera"
ATTR_IMAGE_PATH: Final = "image_path"
ATTR_MIN_SCORE: Final = "min_score"
SERVICE_DETECT: Final = "detect"

# Camera subentry data.
CONF_NAME: Final = "name"
CONF_STREAM_URL: Final = "stream_url"
CONF_CAMERA_ENTITY: Final = "camera_entity"
CONF_FPS: Final = "fps"
CONF_LABELS: Final = "labels"
CONF_MIN_SCORE: Final = "min_score"
CONF_LABEL_SCORES: Final = "label_scores"
CONF_ZONES: Final = "zones"
CONF_MOTION_MASK: Final = "motion_mask"
CONF_FRIGATE_CAMERA: Final = "frigate_camera"
DEFAULT_FPS: Final = 5.0
DEFAULT_MIN_SCORE: Final = 0.5
DEFAULT_LABELS: Final = ("person",)
# Snapshots each camera keeps (in its media folder), across restarts.
MAX_SNAPSHOTS_PER_CAMERA: Final = 100
MAX_SNAPSHOT_AGE: Final = timedelta(days=7)

# Serial subentry data.
CONF_PORT: Final = "port"
CONF_BAUDRATE: Final = "baudrate"
DEFAULT_BAUDRATE: Final = 115200
BAUDRATES: Final = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
SERVICE_SEND_SERIAL: Final = "send_serial"
ATTR_BOARD: Final = "board"
ATTR_LINE: Final = "line"
