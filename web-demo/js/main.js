// Wires the page together: sign-in first, then the live calendar.

import { Api } from "./api.js";
import { CalendarDialog } from "./calendars.js";
import { LiveClient } from "./live.js";
import { LoginView } from "./login.js";
import { EventPanel } from "./panel.js";
import { ShareDialog } from "./share.js";
import { EventStore } from "./store.js";
import { SyncFeed } from "./sync.js";
import { avatar, localZone, toWire, toast } from "./ui.js";
import { WeekView } from "./week.js";

const CONNECTION_LABELS = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  offline: "Offline",
};

const api = new Api();
// Signing out (here, in another way, or a revoked login) starts from a clean page.
api.addEventListener("signedout", () => location.reload());

if (api.session) startCalendar();
else {
  const root = document.getElementById("login");
  root.hidden = false;
  new LoginView(root, api, () => {
    root.hidden = true;
    startCalendar();
  });
}

function startCalendar() {
  const live = new LiveClient(api);
  const store = new EventStore(api, live, new SyncFeed(api));
  const share = new ShareDialog(store);
  const calendars = new CalendarDialog(store);
  document.getElementById("calendars").addEventListener("click", () => calendars.open());
  const panel = new EventPanel(document.getElementById("panel"), store, {
    onShare: (eventId) => share.open(eventId),
    onClosed: () => week.render(),
  });
  const week = new WeekView(document.getElementById("week"), store, {
    onOpen: (eventId, occurrenceId) => {
      panel.open(eventId, { occurrenceId });
      week.render();
    },
    onCreate: (start) => createAt(store, panel, start),
  });

  document.getElementById("app").hidden = false;
  document.getElementById("me").replaceChildren(avatar(api.user.username), api.user.username);
  document.getElementById("logout").addEventListener("click", () => api.logout());
  document.addEventListener("keydown", (key) => {
    if (key.key === "Escape" && !document.querySelector("dialog[open]")) panel.close();
  });

  const indicator = document.getElementById("connection");
  live.addEventListener("status", ({ detail }) => {
    indicator.dataset.state = detail.state;
    indicator.textContent = CONNECTION_LABELS[detail.state];
    indicator.title = detail.retryIn ? `Next try in ${Math.ceil(detail.retryIn / 1000)} s` : "";
  });
  store.addEventListener("access", ({ detail }) => {
    if (detail.previous === null) announceShare(detail.eventId, detail.role);
  });
  store.addEventListener("removed", ({ detail }) => {
    const what = detail.title ? `“${detail.title}”` : "An event";
    toast(
      detail.reason === "deleted"
        ? `${what} was deleted.`
        : `${what} is no longer shared with you.`,
    );
  });

  live.start();
  week.show(week.weekStart).catch((error) => toast(error.message, "error"));
}

async function announceShare(eventId, role) {
  try {
    const event = await api.request("GET", `/events/${eventId}`);
    toast(`“${event.title}” was shared with you (${role}).`, "success");
  } catch {
    // Unshared again before we looked: nothing to announce.
  }
}

async function createAt(store, panel, start) {
  const end = new Date(start.getTime() + 60 * 60_000);
  try {
    const event = await store.create({
      title: "New event",
      start_time: toWire(start),
      end_time: toWire(end),
      timezone: localZone,
    });
    panel.open(event.id, { focusTitle: true });
  } catch (error) {
    toast(`Not created: ${error.message}`, "error");
  }
}
