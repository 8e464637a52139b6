// The side panel's controls: each shows one document field and reads it back
// in the document's own form (UTC times, null for no location, RFC 5545 lines).

import { h, toLocalInput, toWire } from "./ui.js";

// Typing is sent once the keyboard rests this long (or at once on leaving the field).
const TYPING_PAUSE_MS = 250;

const RECURRENCE_PRESETS = [
  ["", "Does not repeat"],
  ["RRULE:FREQ=DAILY", "Every day"],
  ["RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "Every weekday"],
  ["RRULE:FREQ=WEEKLY", "Every week"],
  ["RRULE:FREQ=MONTHLY", "Every month"],
  ["custom", "Custom rule…"],
];

/**
 * The control of document field `name`: {element, focusables, labelFor, read(), write(value)}.
 * `onEdit(delayMs)` hears every change the person makes: send after that pause.
 */
export function fieldControl(name, onEdit) {
  const id = `field-${name}`;
  if (name === "recurrence") return recurrenceControl(id, onEdit);
  if (name.endsWith("_time")) return timeControl(id, onEdit);
  return textControl(id, name, onEdit);
}

function textControl(id, name, onEdit) {
  const element =
    name === "description"
      ? h("textarea", { id, rows: 4, placeholder: "Add notes" })
      : h("input", { id, type: "text", placeholder: name === "location" ? "Add a place" : "" });
  element.addEventListener("input", () => onEdit(TYPING_PAUSE_MS));
  return {
    element,
    focusables: [element],
    labelFor: id,
    read: () => (name === "location" && element.value.trim() === "" ? null : element.value),
    write(value) {
      if (element.value === (value ?? "")) return;
      // Someone else's text arrives while the caret is here: leave the caret where it was.
      const { selectionStart, selectionEnd } = element;
      element.value = value ?? "";
      if (document.activeElement === element) {
        element.setSelectionRange(selectionStart, selectionEnd);
      }
    },
  };
}

function timeControl(id, onEdit) {
  const element = h("input", { id, type: "datetime-local", required: true });
  element.addEventListener("change", () => onEdit(0));
  return {
    element,
    focusables: [element],
    labelFor: id,
    // The input holds local time without an offset, which Date parses as local.
    read: () => (element.value ? toWire(new Date(element.value)) : null),
    write(value) {
      element.value = toLocalInput(new Date(value));
    },
  };
}

function recurrenceControl(id, onEdit) {
  const preset = h(
    "select",
    { id: `${id}-preset` },
    RECURRENCE_PRESETS.map(([value, label]) => h("option", { value }, label)),
  );
  const custom = h("textarea", {
    id: `${id}-custom`,
    rows: 2,
    hidden: true,
    spellcheck: "false",
    placeholder: "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10",
  });
  preset.addEventListener("change", () => {
    custom.hidden = preset.value !== "custom";
    if (preset.value === "custom") custom.focus();
    else onEdit(0);
  });
  custom.addEventListener("input", () => onEdit(TYPING_PAUSE_MS));
  return {
    element: h("div", { class: "recurrence" }, preset, custom),
    focusables: [preset, custom],
    labelFor: preset.id,
    read() {
      const text = preset.value === "custom" ? custom.value : preset.value;
      return text
        .split("\n")
        .map((line) => line.trim())
        .filter(Boolean);
    },
    write(lines) {
      const text = lines.join("\n");
      const known = RECURRENCE_PRESETS.some(([value]) => value === text && value !== "custom");
      preset.value = known ? text : "custom";
      custom.value = text;
      custom.hidden = known;
    },
  };
}
