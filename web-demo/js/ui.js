// Small DOM and formatting helpers shared by the views.

/** An element: h("button", {class: "x", onclick}, "text", child...). */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name === "style" && typeof value === "object") Object.assign(node.style, value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

/** A short-lived notice at the bottom of the screen; kind is info, success or error. */
export function toast(message, kind = "info") {
  const region = document.getElementById("toasts");
  const item = h("div", { class: `toast toast-${kind}`, role: "status" }, message);
  region.append(item);
  setTimeout(() => item.classList.add("leaving"), 4500);
  setTimeout(() => item.remove(), 5000);
}

/** A stable colour per person, so that presence, history and avatars agree. */
export function colorFor(name) {
  let hash = 0;
  for (const char of name) hash = (hash * 31 + char.codePointAt(0)) % 360;
  return `hsl(${hash} 65% 45%)`;
}

export function avatar(name, extra = "") {
  return h(
    "span",
    { class: `avatar ${extra}`, title: name, style: { background: colorFor(name) } },
    name.slice(0, 1).toUpperCase(),
  );
}

/** The event document's fields, as the panel and the history name them. */
export const FIELD_LABELS = {
  title: "Title",
  start_time: "Starts",
  end_time: "Ends",
  location: "Location",
  description: "Description",
  recurrence: "Repeats",
};

// Times: the server speaks UTC; the page shows and edits the browser's local time.

export const localZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
const hourFormat = new Intl.DateTimeFormat(undefined, { hour: "numeric" });
const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: "short" });
const monthFormat = new Intl.DateTimeFormat(undefined, { month: "long", year: "numeric" });
const stampFormat = new Intl.DateTimeFormat(undefined, {
  weekday: "short",
  day: "numeric",
  month: "short",
  hour: "numeric",
  minute: "2-digit",
});

export const formatTime = (date) => timeFormat.format(date);
export const formatHour = (date) => hourFormat.format(date);
export const formatWeekday = (date) => dayFormat.format(date);
export const formatMonth = (date) => monthFormat.format(date);
export const formatStamp = (date) => stampFormat.format(date);

/** RFC 3339 in UTC without milliseconds, as the server writes it. */
export function toWire(date) {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The value of an <input type="datetime-local"> for a Date, in local time. */
export function toLocalInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}`
  );
}

export function startOfDay(date) {
  const day = new Date(date);
  day.setHours(0, 0, 0, 0);
  return day;
}

export function addDays(date, days) {
  const later = new Date(date);
  later.setDate(later.getDate() + days);
  return later;
}

/** "just now", "3 min ago", or a date for anything older than a day. */
export function relativeTime(at) {
  const seconds = (Date.now() - new Date(at).getTime()) / 1000;
  if (seconds < 45) return "just now";
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return formatStamp(new Date(at));
}
