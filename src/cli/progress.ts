/**
 * Progress on stderr: a bar when stderr is a terminal, silence otherwise (CI logs, pipes).
 * CLUSTERKV_PROGRESS=lines prints one plain line per update instead (logs that want progress, tests);
 * CLUSTERKV_PROGRESS=off silences it on a terminal too.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** done of total units finished; `stage` names the unit now running (shown after the bar) */
  update(done: number, total: number, stage?: string): void;
  stop(): void;
}

type ProgressMode = 'bar' | 'lines' | 'off';

function progressMode(): ProgressMode {
  const asked = process.env.CLUSTERKV_PROGRESS;
  if (asked === 'lines' || asked === 'off') return asked;
  return process.stderr.isTTY ? 'bar' : 'off';
}

/** Whether a live bar redraws stderr (then other stderr lines would tear it). */
export function progressIsLive(): boolean {
  return progressMode() === 'bar';
}

/** A progress display; `unit` names what done/total count (shown after the counts), so a summary can name the same. */
export function progressBar(label: string, unit?: string): Progress {
  const counted = unit ? ` ${unit}` : '';
  const mode = progressMode();
  if (mode === 'off') return { update() {}, stop() {} };
  if (mode === 'lines') {
    let last = '';
    return {
      update(done, total, stage) {
        const line = `${label} ${done}/${total}${counted}${stage ? ` ${stage}` : ''}`;
        if (line !== last) process.stderr.write(`${line}\n`);
        last = line;
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {percentage}% {value}/{total}${counted} | {duration_formatted} elapsed, eta {eta_formatted} {stage}`, stream: process.stderr, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total, stage) {
      if (!started) {
        bar.start(total, 0, { stage: '' });
        started = true;
      }
      bar.setTotal(total);
      bar.update(done, { stage: stage ?? '' });
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}
