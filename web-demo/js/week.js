// The week grid: seven local days, occurrences laid out side by side when they
// overlap, a click on an empty slot to create an event there.

import {
  addDays,
  avatar,
  formatHour,
  formatMonth,
  formatTime,
  formatWeekday,
  h,
  startOfDay,
} from "./ui.js";

const HOUR_PX = 48;
const SNAP_MINUTES = 30;
const MIN_BLOCK_MINUTES = 20; // short events stay clickable
const SHORT_BLOCK_MINUTES = 45; // below this a block has room for one line only
const FIRST_VISIBLE_HOUR = 7;

export function mondayOf(date) {
  const day = startOfDay(date);
  return addDays(day, -((day.getDay() + 6) % 7));
}

export class WeekView {
  constructor(root, store, { onOpen, onCreate }) {
    this.root = root;
    this.store = store;
    this.onOpen = onOpen;
    this.onCreate = onCreate;
    this.weekStart = mondayOf(new Date());
    this._build();
    store.addEventListener("week", () => this.render());
    store.addEventListener("event", () => this.render());
    store.addEventListener("members", () => this.render());
    setInterval(() => this._placeNowLine(), 60_000);
  }

  show(weekStart) {
    this.weekStart = weekStart;
    this._renderHeader();
    return this.store.showWindow(weekStart, addDays(weekStart, 7));
  }

  previous = () => this.show(addDays(this.weekStart, -7));
  next = () => this.show(addDays(this.weekStart, 7));
  today = () => this.show(mondayOf(new Date()));

  _build() {
    this.title = h("h1", { class: "week-title" });
    const toolbar = h(
      "div",
      { class: "week-toolbar" },
      h("button", { class: "btn", onclick: this.today, "data-testid": "today" }, "Today"),
      h(
        "div",
        { class: "btn-group" },
        h(
          "button",
          { class: "btn icon", onclick: this.previous, "aria-label": "Previous week" },
          "‹",
        ),
        h("button", { class: "btn icon", onclick: this.next, "aria-label": "Next week" }, "›"),
      ),
      this.title,
    );
    this.head = h("div", { class: "week-head" });
    this.columns = h("div", { class: "week-days" });
    const hours = h(
      "div",
      { class: "week-hours" },
      Array.from({ length: 24 }, (_, hour) =>
        h("div", { class: "hour-label" }, hour === 0 ? "" : formatHour(new Date(2000, 0, 1, hour))),
      ),
    );
    // The day headings scroll with the grid (sticky), so their columns always line up.
    this.scroller = h(
      "div",
      { class: "week-scroll" },
      this.head,
      h("div", { class: "week-body" }, hours, this.columns),
    );
    this.root.append(toolbar, h("div", { class: "week-grid" }, this.scroller));
    this._renderHeader();
    // A live update can redraw the grid between a press on a block and its release;
    // the browser then clicks nothing, so a release on the pressed block's redrawn
    // twin opens it.
    this.columns.addEventListener("pointerdown", (press) => {
      this._pressed = press.target.closest(".event-block");
    });
    this.columns.addEventListener("pointerup", (release) => {
      const pressed = this._pressed;
      this._pressed = null;
      const released = release.target.closest(".event-block");
      if (!pressed || pressed.isConnected || !released) return;
      const { eventId, occurrenceId } = released.dataset;
      if (eventId === pressed.dataset.eventId && occurrenceId === pressed.dataset.occurrenceId)
        this.onOpen(Number(eventId), occurrenceId || null);
    });
  }

  _days() {
    return Array.from({ length: 7 }, (_, i) => addDays(this.weekStart, i));
  }

  _renderHeader() {
    const days = this._days();
    const first = formatMonth(days[0]);
    const last = formatMonth(days[6]);
    this.title.textContent = first === last ? first : `${first} – ${last}`;
    const today = startOfDay(new Date()).getTime();
    this.head.replaceChildren(
      h("div", { class: "gutter" }),
      ...days.map((day) =>
        h(
          "div",
          { class: `day-head ${day.getTime() === today ? "today" : ""}` },
          h("span", { class: "dow" }, formatWeekday(day)),
          h("span", { class: "date" }, String(day.getDate())),
        ),
      ),
    );
  }

  render() {
    const today = startOfDay(new Date()).getTime();
    this.columns.replaceChildren(
      ...this._days().map((day) => {
        const column = h("div", {
          class: `day-column ${day.getTime() === today ? "today" : ""}`,
          onclick: (event) => this._create(event, day),
        });
        for (const block of this._layout(day)) column.append(this._block(block));
        return column;
      }),
    );
    this._placeNowLine();
    if (!this._scrolled) {
      this._scrolled = true;
      this.scroller.scrollTop = FIRST_VISIBLE_HOUR * HOUR_PX - 12; // the hour's label shows too
    }
  }

  /** The day's pieces of occurrences, each with its lane among those it overlaps. */
  _layout(day) {
    const dayStart = day.getTime();
    const dayEnd = addDays(day, 1).getTime();
    const pieces = this.store.occurrences
      .filter((o) => this.store.events.has(o.eventId))
      .filter((o) => o.start.getTime() < dayEnd && o.end.getTime() > dayStart)
      .map((o) => {
        const start = Math.max(o.start.getTime(), dayStart);
        const end = Math.max(Math.min(o.end.getTime(), dayEnd), start + MIN_BLOCK_MINUTES * 60_000);
        return {
          occurrence: o,
          top: (start - dayStart) / 60_000,
          bottom: (end - dayStart) / 60_000,
        };
      })
      .sort((a, b) => a.top - b.top || b.bottom - a.bottom);
    // Greedy lanes within each cluster of overlapping pieces.
    let cluster = [];
    let clusterEnd = -1;
    const closeCluster = () => {
      const lanes = Math.max(...cluster.map((p) => p.lane + 1));
      for (const piece of cluster) piece.lanes = lanes;
      cluster = [];
    };
    const laneEnds = [];
    for (const piece of pieces) {
      if (piece.top >= clusterEnd && cluster.length) {
        closeCluster();
        laneEnds.length = 0;
      }
      let lane = laneEnds.findIndex((end) => end <= piece.top);
      if (lane === -1) lane = laneEnds.length;
      laneEnds[lane] = piece.bottom;
      piece.lane = lane;
      cluster.push(piece);
      clusterEnd = Math.max(clusterEnd, piece.bottom);
    }
    if (cluster.length) closeCluster();
    return pieces;
  }

  _block({ occurrence, top, bottom, lane, lanes }) {
    const event = this.store.events.get(occurrence.eventId);
    // A moved or renamed occurrence shows its own title and place (the server
    // already placed it at its own time).
    const own = { ...event, ...(event.overrides?.[occurrence.occurrenceId] ?? {}) };
    const viewers = this.store.othersIn(event.id).filter((m) => m.state?.open);
    const classes = ["event-block"];
    if (event.id === this.store.openId) classes.push("selected");
    if (event.role !== "owner") classes.push("shared");
    if (bottom - top < SHORT_BLOCK_MINUTES) classes.push("short");
    return h(
      "button",
      {
        class: classes.join(" "),
        dataset: { eventId: event.id, occurrenceId: occurrence.occurrenceId ?? "" },
        style: {
          top: `${(top / 60) * HOUR_PX}px`,
          height: `${((bottom - top) / 60) * HOUR_PX - 2}px`,
          left: `calc(${(lane / lanes) * 100}% + 2px)`,
          width: `calc(${100 / lanes}% - 4px)`,
        },
        onclick: (click) => {
          click.stopPropagation();
          this.onOpen(event.id, occurrence.occurrenceId);
        },
      },
      h(
        "span",
        { class: "event-title" },
        event.recurrence.length ? h("span", { class: "repeat", title: "Repeats" }, "↻ ") : null,
        own.title,
      ),
      h(
        "span",
        { class: "event-time" },
        `${formatTime(occurrence.start)} – ${formatTime(occurrence.end)}`,
        own.location ? ` · ${own.location}` : "",
      ),
      viewers.length
        ? h(
            "span",
            { class: "event-viewers" },
            viewers.map((m) => avatar(m.username, "tiny")),
          )
        : null,
    );
  }

  _create(click, day) {
    if (click.target !== click.currentTarget) return;
    const minutes = Math.floor(((click.offsetY / HOUR_PX) * 60) / SNAP_MINUTES) * SNAP_MINUTES;
    const start = new Date(day);
    start.setMinutes(minutes);
    this.onCreate(start);
  }

  _placeNowLine() {
    this.columns.querySelector(".now-line")?.remove();
    const now = new Date();
    const index = Math.floor((startOfDay(now) - this.weekStart) / 86_400_000);
    const column = this.columns.children[index];
    if (!column || index > 6) return;
    const minutes = (now - startOfDay(now)) / 60_000;
    column.append(h("div", { class: "now-line", style: { top: `${(minutes / 60) * HOUR_PX}px` } }));
  }
}
