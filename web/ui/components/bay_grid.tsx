/**
 * The bays as configured: one section per floor, one strip per row, bays in order. Used by the
 * kiosk (big tiles, only free bays tappable) and the admin portal (compact tiles, all tappable).
 *
 * @module
 */
import type { ComponentChildren } from "preact";
import type { BayView, LayoutView } from "../../views.ts";
import { type BayDisplay, needsAttention } from "../bay_status.ts";
import type { ServerClock } from "../server_clock.ts";
import { Countdown } from "./countdown.tsx";

export interface BayGridProps {
  layout: LayoutView | null;
  bays: ReadonlyMap<number, BayView>;
  clock: ServerClock;
  display: (bay: BayView) => BayDisplay;
  onPick: (bay: BayView) => void;
  /** The bay currently selected (highlighted). */
  selected?: number | null;
  variant: "kiosk" | "admin";
  /** Whether the bay's session ends soon (the timer's warning), to mark its tile. */
  ending?: (bay: BayView) => boolean;
  /** Extra content under a tile's status (admin: ball level, reason). */
  extra?: (bay: BayView) => ComponentChildren;
}

interface Group {
  key: string;
  title: string | null;
  rows: Array<{ key: string; title: string | null; bays: BayView[] }>;
}

/** Groups bays by the layout's floors and rows; bays the layout does not list come last. */
export function groupBays(
  layout: LayoutView | null,
  bays: ReadonlyMap<number, BayView>,
): Group[] {
  const seen = new Set<number>();
  const floors = layout?.floors ?? [];
  const groups: Group[] = floors.map((f) => ({
    key: `floor-${f.floor}`,
    title: floors.length > 1 ? `Floor ${f.floor}` : null,
    rows: f.rows.map((r) => ({
      key: `row-${f.floor}-${r.row}`,
      title: f.rows.length > 1 || floors.length > 1 ? `Row ${r.row}` : null,
      bays: r.machine_ids.flatMap((id) => {
        const b = bays.get(id);
        if (!b || seen.has(id)) return [];
        seen.add(id);
        return [b];
      }),
    })).filter((r) => r.bays.length > 0),
  })).filter((g) => g.rows.length > 0);
  const rest = [...bays.values()].filter((b) => !seen.has(b.machine_id))
    .sort((a, b) => a.machine_id - b.machine_id);
  if (rest.length > 0) {
    groups.push({
      key: "other",
      title: groups.length > 0 ? "Other bays" : null,
      rows: [{ key: "row-other", title: null, bays: rest }],
    });
  }
  return groups;
}

export function BayGrid(props: BayGridProps) {
  const groups = groupBays(props.layout, props.bays);
  if (groups.length === 0) {
    return <p class="grid-empty">Waiting for the bays to report…</p>;
  }
  return (
    <div class={`bay-grid bay-grid--${props.variant}`}>
      {groups.map((g) => (
        <section class="floor" key={g.key} aria-label={g.title ?? "Bays"}>
          {g.title && <h2 class="floor-title">{g.title}</h2>}
          {g.rows.map((r) => (
            <div class="bay-row" key={r.key}>
              {r.title && <h3 class="row-title">{r.title}</h3>}
              <div class="bay-row-tiles">
                {r.bays.map((b) => <BayTile key={b.machine_id} bay={b} {...props} />)}
              </div>
            </div>
          ))}
        </section>
      ))}
    </div>
  );
}

function BayTile(props: BayGridProps & { bay: BayView }) {
  const { bay, clock, variant } = props;
  const d = props.display(bay);
  const attention = variant === "admin" && needsAttention(bay);
  const classes = [
    "bay",
    `bay--${d.tone}`,
    d.selectable ? "bay--selectable" : "",
    props.selected === bay.machine_id ? "bay--selected" : "",
    attention ? "bay--attention" : "",
    d.showsCountdown && props.ending?.(bay) ? "bay--ending" : "",
  ].filter(Boolean).join(" ");
  return (
    <button
      type="button"
      class={classes}
      data-bay={bay.machine_id}
      data-status={bay.status}
      disabled={!d.selectable}
      aria-label={`${bay.label}: ${d.label}`}
      onClick={() => d.selectable && props.onPick(bay)}
    >
      <span class="bay-name">{bay.label}</span>
      <span class="bay-state">{d.label}</span>
      {d.showsCountdown && bay.session && (
        <Countdown clock={clock} session={bay.session} class="bay-countdown" />
      )}
      {props.extra?.(bay)}
    </button>
  );
}
