// The drawing pad: strokes with the mouse, a pen or a finger (pointer events), undo,
// clear, line width, and a dropped picture under the strokes.

export class Pad {
  constructor(canvas, onChange) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.onChange = onChange; // onChange(final): while drawing (false) and at a stroke's end (true)
    this.strokes = [];
    this.background = null; // an image drawn under the strokes
    this.width = 20;
    this.current = null;
    this.redraw();
    canvas.addEventListener("pointerdown", (e) => this.down(e));
    canvas.addEventListener("pointermove", (e) => this.move(e));
    for (const ev of ["pointerup", "pointercancel"]) {
      canvas.addEventListener(ev, (e) => this.up(e));
    }
  }

  point(e) {
    const r = this.canvas.getBoundingClientRect();
    return [
      ((e.clientX - r.left) / r.width) * this.canvas.width,
      ((e.clientY - r.top) / r.height) * this.canvas.height,
    ];
  }

  down(e) {
    e.preventDefault();
    this.canvas.setPointerCapture(e.pointerId);
    this.current = { width: this.width, points: [this.point(e)] };
    this.strokes.push(this.current);
    this.redraw();
    this.onChange(false);
  }

  move(e) {
    if (!this.current) return;
    e.preventDefault();
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
    for (const ce of events.length ? events : [e]) this.current.points.push(this.point(ce));
    this.redraw();
    this.onChange(false);
  }

  up(e) {
    if (!this.current) return;
    this.current = null;
    this.onChange(true);
  }

  get empty() {
    return this.strokes.length === 0 && !this.background;
  }

  clear() {
    this.strokes = [];
    this.background = null;
    this.redraw();
  }

  undo() {
    if (this.strokes.length) this.strokes.pop();
    else this.background = null;
    this.redraw();
  }

  setBackground(img) {
    this.strokes = [];
    this.background = img;
    this.redraw();
  }

  redraw() {
    const { ctx, canvas } = this;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (this.background) {
      const b = this.background;
      const s = Math.min(canvas.width / b.width, canvas.height / b.height);
      const w = b.width * s, h = b.height * s;
      ctx.drawImage(b, (canvas.width - w) / 2, (canvas.height - h) / 2, w, h);
    }
    ctx.strokeStyle = "#000";
    ctx.fillStyle = "#000";
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    for (const s of this.strokes) {
      const p = s.points;
      if (p.length === 1) {
        ctx.beginPath();
        ctx.arc(p[0][0], p[0][1], s.width / 2, 0, 2 * Math.PI);
        ctx.fill();
        continue;
      }
      ctx.lineWidth = s.width;
      ctx.beginPath();
      ctx.moveTo(p[0][0], p[0][1]);
      for (let i = 1; i < p.length; i++) ctx.lineTo(p[i][0], p[i][1]);
      ctx.stroke();
    }
  }

  blob() {
    return new Promise((resolve) => this.canvas.toBlob(resolve, "image/png"));
  }
}
