import type { DecisionEntry } from '../api.ts';

/** A decision record: each stage, its decision, code, detail and time. */
export function Decisions({ decisions, label }: { decisions: DecisionEntry[]; label: string }) {
  if (decisions.length === 0) return <p class="muted">No stage ran (refused before routing or before the first stage).</p>;
  return (
    <div class="table-wrap">
      <table class="decisions">
        <caption class="sr-only">{label}</caption>
        <thead><tr><th scope="col">Stage</th><th scope="col">Decision</th><th scope="col">Code</th><th scope="col">Detail</th><th scope="col" class="num">ms</th></tr></thead>
        <tbody>
          {decisions.map((d, i) => (
            <tr key={i}>
              <td>{d.stage}</td>
              <td><span class={`badge d-${d.decision}`}>{d.decision}</span></td>
              <td>{d.code ? <code>{d.code}</code> : '–'}</td>
              <td class="detail">{d.detail ?? ''}</td>
              <td class="num">{d.ms.toFixed(3)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
