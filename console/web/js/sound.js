// The alarm tone, synthesised so the console ships no audio files. Browsers allow sound only
// after a user gesture; signing in is one, and `unlock` is called then.
let ctx = null;

export function unlock() {
  try {
    ctx ??= new AudioContext();
    if (ctx.state === "suspended") ctx.resume();
  } catch {
    ctx = null; // no audio device: the visual cue still works
  }
}

export function alarmTone() {
  if (!ctx) return;
  const start = ctx.currentTime;
  for (let i = 0; i < 3; i++) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = "square";
    osc.frequency.value = i % 2 ? 660 : 880;
    gain.gain.setValueAtTime(0.15, start + i * 0.3);
    gain.gain.setValueAtTime(0, start + i * 0.3 + 0.25);
    osc.connect(gain).connect(ctx.destination);
    osc.start(start + i * 0.3);
    osc.stop(start + i * 0.3 + 0.26);
  }
}
