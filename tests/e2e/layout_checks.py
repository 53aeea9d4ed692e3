"""What a screenshot's reader would see wrong, measured in the page: text boxes of a plotly figure
that overlap or leave their figure, elements wider than their pane, tables wider than their block.

Each constant is a JavaScript function for ``page.evaluate``; each returns a list of problems
(strings naming the figure or element and the boxes), empty when the layout is clean.
"""

# Plotly's own text: the title, axis titles, colour-bar titles, annotations, the legend and the tick
# labels. Two boxes of different kinds (or two annotations, two axis titles) must not overlap by more
# than a sliver, and every box must lie inside its figure (a clipped title is unreadable). Tick
# labels of one axis are plotly's to space, so they are only checked against the other kinds.
PLOTLY_TEXT = r"""() => {
  const problems = [];
  const shown = (r) => r.width > 0.5 && r.height > 0.5;
  const name = (el) => (el.closest('[id]') || {}).id || '?';
  for (const plot of document.querySelectorAll('.js-plotly-plot')) {
    const frame = plot.getBoundingClientRect();
    if (!shown(frame) || plot.offsetParent === null) continue;
    const boxes = [];
    const add = (el, kind) => {
      const r = el.getBoundingClientRect();
      const text = (el.textContent || '').trim();
      if (shown(r) && (text || kind === 'legend')) boxes.push({kind, text: text.slice(0, 40), r});
    };
    plot.querySelectorAll('text[class$="title"]').forEach((el) => add(el, el.getAttribute('class').includes('gtitle') ? 'title' : 'axis-title'));
    plot.querySelectorAll('g.annotation').forEach((el) => add(el, 'annotation'));
    plot.querySelectorAll('g.legend').forEach((el) => add(el, 'legend'));
    plot.querySelectorAll('g[class$="tick"] text, g[class$="tick2"] text').forEach((el) => add(el, 'tick'));
    for (const b of boxes) {
      if (b.kind === 'tick') continue;
      if (b.r.left < frame.left - 1 || b.r.right > frame.right + 1 || b.r.top < frame.top - 1 || b.r.bottom > frame.bottom + 1)
        problems.push(`${name(plot)}: ${b.kind} "${b.text}" leaves its figure`);
    }
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i], b = boxes[j];
      if (a.kind === 'tick' && b.kind === 'tick') continue;
      if (a.kind === 'legend' && b.kind === 'legend') continue;
      const w = Math.min(a.r.right, b.r.right) - Math.max(a.r.left, b.r.left);
      const h = Math.min(a.r.bottom, b.r.bottom) - Math.max(a.r.top, b.r.top);
      if (w > 2 && h > 2) problems.push(`${name(plot)}: ${a.kind} "${a.text}" overlaps ${b.kind} "${b.text}"`);
    }
  }
  return problems;
}"""

# Nothing in the open tab (or the page) sticks out of its pane: no element reaches past the tab's
# right edge, no table is wider than the block that holds it, the page does not scroll sideways.
OVERFLOW = r"""() => {
  const problems = [];
  if (document.documentElement.scrollWidth > window.innerWidth + 1)
    problems.push(`page scrolls sideways: ${document.documentElement.scrollWidth} > ${window.innerWidth}`);
  const panel = [...document.querySelectorAll('[role="tabpanel"]')].find((p) => p.offsetParent !== null);
  if (!panel) return problems;
  const edge = panel.getBoundingClientRect().right;
  for (const el of panel.querySelectorAll('*')) {
    if (el.offsetParent === null) continue;
    const r = el.getBoundingClientRect();
    // plotly's drag handles are invisible rectangles at the plot's corners
    if (r.width > 0 && r.right > edge + 2 && !el.closest('.table-wrap, [class*="scroll"], .draglayer, .modebar-container'))
      problems.push(`${(el.closest('[id]') || {}).id || el.tagName}: ${el.tagName.toLowerCase()} reaches ${Math.round(r.right)} past the pane's ${Math.round(edge)}`);
  }
  for (const t of panel.querySelectorAll('table')) {
    if (t.offsetParent === null) continue;
    const block = t.closest('.block') || t.parentElement;
    const tw = t.getBoundingClientRect().width, bw = block.getBoundingClientRect().width;
    if (tw > bw + 2) problems.push(`${block.id || 'table'}: table ${Math.round(tw)} px wide in a ${Math.round(bw)} px block`);
  }
  return [...new Set(problems)].slice(0, 20);
}"""
