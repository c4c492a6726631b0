// Minimal ESP32 board for Camera Alerts' serial protocol (docs/serial-protocol.md).
//
// - At boot: one #describe line so Home Assistant gets names, units and classes.
// - Every REPORT_MS: one JSON line with the chip temperature, uptime, a counter,
//   the LED state and the reset reason as text.
// - Reads command lines: "led=on" / "led=off" switch the LED; "describe" resends
//   the description. Anything else is answered with a "# unknown command" comment,
//   which the integration ignores.
//
// Plain Arduino core for ESP32, no extra libraries. Open the port at 115200 baud.

#include <Arduino.h>

#ifndef LED_BUILTIN
#define LED_BUILTIN 2  // most ESP32 dev boards; change for yours
#endif

static const unsigned long REPORT_MS = 5000;
static const size_t MAX_COMMAND = 64;  // longer commands are dropped, never overflow

static char command[MAX_COMMAND + 1];
static size_t commandLength = 0;
static bool commandOverflow = false;
static bool ledOn = false;
static unsigned long lastReport = 0;
static unsigned long reports = 0;

static void describe() {
  Serial.println(
      "#describe {"
      "\"chip_temperature\": {\"name\": \"Chip temperature\", \"unit\": \"°C\","
      " \"device_class\": \"temperature\"},"
      "\"uptime\": {\"name\": \"Uptime\", \"unit\": \"s\", \"device_class\": \"duration\","
      " \"state_class\": \"total_increasing\"},"
      "\"reports\": {\"name\": \"Reports sent\", \"state_class\": \"total_increasing\"},"
      "\"led\": {\"name\": \"LED\", \"device_class\": \"light\"},"
      "\"reset_reason\": {\"name\": \"Reset reason\"}"
      "}");
}

static const char *resetReason() {
  switch (esp_reset_reason()) {
    case ESP_RST_POWERON: return "power_on";
    case ESP_RST_SW: return "software";
    case ESP_RST_PANIC: return "panic";
    case ESP_RST_BROWNOUT: return "brownout";
    case ESP_RST_DEEPSLEEP: return "deep_sleep";
    default: return "other";
  }
}

static void report() {
  reports++;
  // temperatureRead() is the ESP32's internal sensor: rough, but needs no wiring.
  Serial.printf(
      "{\"chip_temperature\": %.1f, \"uptime\": %lu, \"reports\": %lu,"
      " \"led\": %s, \"reset_reason\": \"%s\"}\n",
      temperatureRead(), millis() / 1000UL, reports, ledOn ? "true" : "false",
      resetReason());
}

static void setLed(bool on) {
  ledOn = on;
  digitalWrite(LED_BUILTIN, on ? HIGH : LOW);
  report();  // let Home Assistant see the change at once
}

static void handleCommand(const char *line) {
  if (strcmp(line, "led=on") == 0) {
    setLed(true);
  } else if (strcmp(line, "led=off") == 0) {
    setLed(false);
  } else if (strcmp(line, "describe") == 0) {
    describe();
  } else {
    Serial.printf("# unknown command: %s\n", line);
  }
}

static void readCommands() {
  while (Serial.available() > 0) {
    char c = (char)Serial.read();
    if (c == '\r') {
      continue;
    }
    if (c == '\n') {
      command[commandLength] = '\0';
      if (!commandOverflow && commandLength > 0) {
        handleCommand(command);
      }
      commandLength = 0;
      commandOverflow = false;
    } else if (commandLength < MAX_COMMAND) {
      command[commandLength++] = c;
    } else {
      commandOverflow = true;
    }
  }
}

void setup() {
  pinMode(LED_BUILTIN, OUTPUT);
  digitalWrite(LED_BUILTIN, LOW);
  Serial.begin(115200);
  delay(200);
  Serial.println();  // end any boot-loader garbage with a newline
  Serial.println("# camera_alerts example booted");
  describe();
  report();
  lastReport = millis();
}

void loop() {
  readCommands();
  unsigned long now = millis();
  if (now - lastReport >= REPORT_MS) {
    lastReport = now;
    report();
  }
}
