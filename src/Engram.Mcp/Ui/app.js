// The Engram inspector. Every piece of memory text reaches the page through textContent (el() below), never as HTML,
// so a memory holding <script> or <img onerror> shows its characters and runs nothing. Texts a person types travel in
// POST bodies; URLs carry ids only.
const csrf = document.querySelector('meta[name="engram-csrf"]').content;
const main = document.getElementById('main');
const scopesPane = document.getElementById('scopes');
const statusBox = document.getElementById('status');
const state = { overview: null, scope: null, range: null };
const PAGE = 50;

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key === 'width') node.style.width = value; // CSSOM: the policy allows no style attributes
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Replaces a node's children, leaving out the null and false that conditional parts give.
function put(node, ...children) {
  node.replaceChildren(...children.flat().filter(c => c !== null && c !== undefined && c !== false));
}

async function api(path, body) {
  const init = body === undefined
    ? { headers: { Accept: 'application/json' } }
    : { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Engram-Csrf': csrf }, body: JSON.stringify(body) };
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

function say(text) {
  statusBox.textContent = text;
  statusBox.classList.add('shown');
  clearTimeout(say.timer);
  say.timer = setTimeout(() => statusBox.classList.remove('shown'), 4000);
}

// Times in the viewer's zone; the exact ISO time on hover.
function when(iso) {
  if (!iso) return el('span', { class: 'muted', text: '—' });
  const date = new Date(iso);
  return el('time', { datetime: iso, title: iso, text: date.toLocaleString() });
}

// Tags as typed: comma-separated, blanks dropped (the library lower-cases and sorts them).
function tagList(text) {
  return text.split(',').map(t => t.trim()).filter(Boolean);
}

function tags(list) {
  return (list || []).map(t => el('span', { class: 'tag', text: t }));
}

function link(href, text) {
  return el('a', { href, text });
}

function memoryItem(m, extra) {
  return el('li', { class: m.supersededBy ? 'superseded' : undefined },
    el('div', { class: 'content' }, el('a', { href: `#/memory/${encodeURIComponent(m.id)}`, text: m.content })),
    el('div', { class: 'meta' },
      el('span', {}, 'observed ', when(m.observedAt)),
      el('span', {}, m.scope),
      ...tags(m.tags),
      m.supersededBy ? el('span', {}, 'superseded by ', link(`#/memory/${encodeURIComponent(m.supersededBy)}`, m.supersededBy)) : null,
      ...(m.stale || []).map(f => el('span', { class: 'error', title: f.to ? `now at ${f.to}` : f.since ? `last written ${f.since}` : 'no longer in the work tree' },
        `⚠ ${f.path} ${f.state}${f.to ? ` to ${f.to}` : ''} since remembered`)),
      extra));
}

async function loadOverview() {
  state.overview = await api('/api/overview');
  document.getElementById('store').textContent = `${state.overview.store} · ${state.overview.memories} memories · ${state.overview.embedder}`;
  state.scope ??= state.overview.defaultScope;
  renderScopes();
  // The indexes' state comes after the first page: on a large store it takes a moment to count.
  api('/api/index').then(index => { state.overview.index = index; renderScopes(); }).catch(err => say(err.message));
}

function renderScopes() {
  const o = state.overview;
  put(scopesPane, 
    el('h2', { text: 'Scopes' }),
    ...o.scopes.map(s => {
      const vectors = (o.index?.scopes || []).find(v => v.scope === s.scope);
      const vectorState = !vectors ? 'no vectors of the model'
        : vectors.ready ? `vectors ready (${vectors.embedded} of ${vectors.memories})`
        : `embedding: ${vectors.embedded} of ${vectors.memories}; words only until done`;
      return el('button', {
        type: 'button', 'aria-current': s.scope === state.scope ? 'true' : 'false', title: vectorState,
        onclick: () => { state.scope = s.scope; state.range = null; location.hash = '#/'; route(); },
      }, el('span', { class: 'count', text: s.memories }), s.scope, el('span', { class: 'note', text: ` ${vectors?.ready ? '●' : '○'}` }));
    }),
    o.scopes.length === 0 ? el('p', { class: 'muted', text: 'No memories yet.' }) : null,
    el('p', { class: 'note' }, `Model: ${o.index?.model}. ● its vectors are used in recall; ○ not yet (hover a scope).`),
    el('p', { class: 'note', 'data-index': 'lexical' }, o.index?.lexicalBuilding
      ? `Word index: building in the background (at change ${o.index.lexicalAt} of ${o.index.feedAt}); searches use the store's text search meanwhile.`
      : `Word index: at change ${o.index?.lexicalAt} of ${o.index?.feedAt}${o.index && o.index.lexicalAt < o.index.feedAt ? ' (caught up at the next search)' : ''}.`));
}

// Memories of a scope: newest first, paged; or a search (the same recall as the tools).
async function showMemories(offset = 0, search = null, range = state.range) {
  const scope = state.scope;
  state.range = range;
  // The list's time range: observed from the start of one day to the end of another, in the viewer's zone.
  const from = el('input', { type: 'date', 'aria-label': 'Observed from', value: range?.fromDay || '' });
  const to = el('input', { type: 'date', 'aria-label': 'Observed until', value: range?.toDay || '' });
  const rangeForm = el('form', { class: 'search', onsubmit: e => {
    e.preventDefault();
    showMemories(0, null, from.value || to.value ? { fromDay: from.value, toDay: to.value } : null);
  } }, el('label', { class: 'muted' }, 'observed from ', from), el('label', { class: 'muted' }, ' until ', to),
    el('button', { class: 'plain', type: 'submit', text: 'Show' }),
    range ? el('button', { class: 'plain', type: 'button', text: 'All times', onclick: () => showMemories(0, null, null) }) : null);
  const rangeQuery = range
    ? (range.fromDay ? `&from=${encodeURIComponent(new Date(`${range.fromDay}T00:00:00`).toISOString())}` : '')
      + (range.toDay ? `&to=${encodeURIComponent(new Date(new Date(`${range.toDay}T00:00:00`).getTime() + 86400000).toISOString())}` : '')
    : '';
  const query = el('input', { type: 'search', name: 'query', placeholder: 'Search this scope (the same recall as the tools)', 'aria-label': 'Search', value: search?.query || '' });
  const tagInput = el('input', { type: 'text', name: 'tags', placeholder: 'tags, comma-separated', 'aria-label': 'Tags', value: (search?.tags || []).join(', ') });
  const asOf = el('input', { type: 'date', name: 'asOf', 'aria-label': 'As of', value: search?.asOf?.slice(0, 10) || '' });
  const superseded = el('input', { type: 'checkbox', name: 'superseded', checked: search?.includeSuperseded || undefined });
  const form = el('form', { class: 'search', role: 'search', onsubmit: e => {
    e.preventDefault();
    const text = query.value.trim();
    if (!text) { showMemories(0, null); return; }
    showMemories(0, {
      query: text, scope, limit: 50, includeSuperseded: superseded.checked,
      tags: tagList(tagInput.value),
      asOf: asOf.value ? new Date(`${asOf.value}T23:59:59`).toISOString() : null,
    });
  } }, query, tagInput, el('label', { class: 'muted', title: 'Only what was known by the end of this day' }, 'as of ', asOf),
    el('label', {}, superseded, ' include superseded'), el('button', { class: 'act', type: 'submit', text: 'Search' }));

  put(main, el('h1', { text: scope }), form, el('p', { class: 'muted', text: 'Loading…' }));
  if (search) {
    const result = await api('/api/search', search);
    put(main, el('h1', { text: scope }), form,
      el('p', {}, `${result.memories.length} found · `, link(`#/recall/${encodeURIComponent(result.retrievalId)}`, 'explain this recall as a picture')),
      el('ol', { class: 'memories', 'aria-label': 'Results' }, result.memories.map(m =>
        memoryItem(m, el('span', { title: 'How likely this memory answers the query (the fused relevance)' }, `relevance ${m.relevance}`)))));
    query.focus();
    return;
  }

  const page = await api(`/api/memories?scope=${encodeURIComponent(scope)}&offset=${offset}&limit=${PAGE}&superseded=1${rangeQuery}`);
  put(main, el('h1', { text: scope }), form, rangeForm,
    el('p', { class: 'muted' }, `Newest first · ${offset + 1}–${offset + page.memories.length} · `,
      link(`/api/export?scope=${encodeURIComponent(scope)}`, 'export this scope (JSONL)')),
    el('ol', { class: 'memories', 'aria-label': 'Memories' }, page.memories.map(m => memoryItem(m))),
    el('div', { class: 'meta' },
      offset > 0 ? el('button', { class: 'plain', type: 'button', text: '← Newer', onclick: () => showMemories(Math.max(0, offset - PAGE), null, range) }) : null,
      page.more ? el('button', { class: 'plain', type: 'button', text: 'Older →', onclick: () => showMemories(offset + PAGE, null, range) }) : null));
}

async function showMemory(id) {
  const d = await api(`/api/memory/${encodeURIComponent(id)}`);
  const m = d.memory;
  const chain = [...d.replaced, m, ...d.replacedBy];
  const forgetArea = el('div');
  const tagEdit = el('input', { type: 'text', 'aria-label': 'Tags', value: (m.tags || []).join(', '), placeholder: 'tags, comma-separated' });
  const replaceText = el('textarea', { rows: 3, cols: 60, 'aria-label': 'The newer fact', placeholder: 'The newer fact that replaces this one' });
  put(main, 
    el('h1', { text: 'Memory' }),
    el('section', {},
      el('p', { class: 'content', text: m.content }),
      el('div', { class: 'meta' },
        el('span', {}, 'observed ', when(m.observedAt)), el('span', {}, 'stored ', when(m.createdAt)),
        el('span', { text: m.scope }), el('code', { text: m.id }), ...tags(m.tags))),
    el('section', {}, el('h2', { text: 'Entities' }),
      d.entities.length ? el('div', { class: 'meta' }, d.entities.map(e => el('code', { text: e }))) : el('p', { class: 'muted', text: 'None: no names, identifiers or paths.' })),
    el('section', {}, el('h2', { text: 'Supersession' }),
      chain.length > 1
        ? el('ol', { class: 'timeline plain' }, chain.map(c => el('li', { class: c.id === m.id ? 'current' : undefined },
            el('div', { class: 'meta' }, when(c.observedAt), c.supersededBy ? el('span', { text: 'replaced' }) : el('span', { text: 'current' })),
            c.id === m.id ? el('span', { class: 'content', text: c.content }) : el('a', { class: 'content', href: `#/memory/${encodeURIComponent(c.id)}`, text: c.content }))))
        : el('p', { class: 'muted', text: 'It replaced nothing and nothing replaced it.' })),
    el('section', {}, el('h2', { text: 'Near duplicates' }),
      d.similar.length
        ? el('ul', { class: 'plain' }, d.similar.map(s => el('li', {}, el('a', { href: `#/memory/${encodeURIComponent(s.id)}`, text: s.content }), el('span', { class: 'muted', text: ` cosine ${s.score}` }))))
        : el('p', { class: 'muted', text: 'None above the similarity threshold.' })),
    el('section', {}, el('h2', { text: 'Recalls that returned it' }),
      d.recalls.length
        ? el('ul', { class: 'plain' }, d.recalls.map(r => el('li', {}, when(r.at), ' ', link(`#/recall/${encodeURIComponent(r.retrievalId)}`, r.query))))
        : el('p', { class: 'muted', text: 'No logged recall returned it.' })),
    el('section', {}, el('h2', { text: 'Change it' }),
      el('form', { class: 'search', onsubmit: async e => {
        e.preventDefault();
        try {
          const saved = await api('/api/tags', { id: m.id, tags: tagList(tagEdit.value) });
          say(`Tags saved: ${saved.tags.join(', ') || 'none'}.`);
          await showMemory(m.id);
        } catch (err) { say(err.message); }
      } }, tagEdit, el('button', { class: 'plain', type: 'submit', text: 'Save tags' })),
      el('form', { onsubmit: async e => {
        e.preventDefault();
        if (!replaceText.value.trim()) return;
        try {
          const r = await api('/api/remember', { content: replaceText.value, scope: m.scope, tags: m.tags, supersedes: [m.id] });
          say(`Stored ${r.id}; it supersedes this memory.`);
          await loadOverview();
          location.hash = `#/memory/${encodeURIComponent(r.id)}`;
        } catch (err) { say(err.message); }
      } }, replaceText, ' ', el('button', { class: 'act', type: 'submit', text: 'Supersede with this' })),
      el('p', {}, el('button', { class: 'plain', type: 'button', text: 'Forget… (dry run first)', onclick: () => forget(m, forgetArea) })),
      forgetArea));
}

async function forget(m, area) {
  try {
    const dry = await api('/api/forget', { ids: [m.id], dryRun: true });
    put(area, el('div', { class: 'receipt', role: 'alert' },
      el('p', {}, `Dry run: this would forget ${dry.count} memory (${dry.forgotten.join(', ')}), with its tags, vectors, index entries and the recall logs that returned it.`),
      el('button', { class: 'danger', type: 'button', text: 'Forget it', onclick: async () => {
        const receipt = await api('/api/forget', { ids: [m.id], dryRun: false });
        const r = receipt.residue || {};
        put(area, el('div', { class: 'receipt', role: 'status', 'data-receipt': 'forget' },
          el('p', {}, `Forgot ${receipt.count}.`),
          el('p', {}, 'What each store still holds of it: ', Object.entries(r).filter(([k]) => k !== 'isEmpty').map(([k, v]) => `${k} ${v}`).join(', ')),
          el('p', {}, link('#/', 'back to the memories'))));
        await loadOverview();
      } }), ' ',
      el('button', { class: 'plain', type: 'button', text: 'Keep it', onclick: () => put(area) })));
  } catch (err) { say(err.message); }
}

// A recall as a picture: per hit, one bar per signal (full = that signal's first), the tie-break's move, the words.
function explainView(data, title) {
  const x = data.explain;
  const memories = data.memories || {};
  const signals = ['lexical', 'vector', 'entities', 'time'];
  const bar = (name, s) => el('div', { class: 'bar', title: s ? `${name}: rank ${s.rank}, raw score ${s.score}${s.note ? ` — ${s.note}` : ''}` : `${name}: did not find it` },
    el('span', { text: name }),
    el('span', { class: 'track' }, s ? el('span', { class: `fill ${name}`, width: `${Math.round(100 / Math.sqrt(s.rank))}%` }) : null),
    el('span', { class: 'muted', text: s ? `#${s.rank}${s.note ? ' *' : ''}` : '—' }));
  // Each memory's words that matched a query term or a feedback word, by the index's own analysis; hovering names it.
  const highlighted = (id, text) => {
    const matched = new Map((data.words?.[id] || []).map(w => [w.word, w]));
    return text.split(/([\p{L}\p{N}]+)/u).map(p => {
      const w = matched.get(p);
      if (!w) return p;
      return el('mark', { class: w.feedback ? 'feedback' : undefined, title: w.feedback ? `matches "${w.term}", a word the best matches share (pseudo-relevance feedback)` : `matches the query word "${w.term}"`, text: p });
    });
  };
  const account = x.memory;
  return [
    el('h1', { text: title }),
    el('p', {}, el('strong', { text: x.query }), ` over ${x.scopes.join(' + ')} (${x.scopeResolution}) · ran `, when(x.ranAt),
      x.storeChangedSince ? el('span', { class: 'note', text: ' · the store changed since: this replay reflects today\'s store' }) : null),
    el('p', { class: 'note', text: `Vectors: ${x.vectors}. Each bar shows how high that signal ranked the memory (full: its first); * marks a note on hover. Marked words matched the query${data.feedbackTerms?.length ? `; dotted ones, words the best matches share (${data.feedbackTerms.join(', ')})` : ''}.` }),
    account ? el('div', { class: 'receipt', 'data-account': account.id },
      el('p', {}, el('strong', { text: account.surfaced ? `Found at rank ${account.rank}.` : 'Not returned.' }), ' ', account.reason),
      memories[account.id] ? el('p', { class: 'content' }, highlighted(account.id, memories[account.id].content)) : null) : null,
    el('section', { 'aria-label': 'Hits' }, x.hits.map(h => {
      const m = memories[h.id];
      return el('div', { class: 'hit', 'data-hit': h.id },
        el('span', { class: 'rank', text: h.rank }),
        el('div', {},
          el('a', { class: 'content', href: `#/memory/${encodeURIComponent(h.id)}` }, m ? highlighted(h.id, m.content) : h.id),
          el('div', { class: 'meta' }, el('span', { text: `score ${h.score}` }),
            h.recency && h.recency.score > 0 ? el('span', { text: `recency tie-break moved it up ${h.recency.score}` }) : null,
            el('span', { text: h.supersession }))),
        el('div', { class: 'bars' }, signals.map(s => bar(s, h[s]))));
    })),
    el('section', {}, el('h2', { text: `Filtered out (${x.filteredOut.length})` }),
      x.filteredOut.length
        ? el('table', {}, el('tbody', {}, x.filteredOut.map(f => el('tr', { 'data-filtered': f.id },
            el('td', {}, el('code', { text: f.reason })),
            el('td', {}, memories[f.id] ? el('a', { href: `#/memory/${encodeURIComponent(f.id)}`, text: memories[f.id].content }) : f.id)))))
        : el('p', { class: 'muted', text: 'Nothing: every candidate is above.' })),
  ];
}

async function showRecall(id) {
  put(main, ...explainView(await api(`/api/explain/${encodeURIComponent(id)}`), 'A recall, explained'));
}

async function showRecalls() {
  const list = await api('/api/recalls?limit=100');
  put(main, el('h1', { text: 'Recall log' }),
    list.length
      ? el('table', {}, el('thead', {}, el('tr', {}, el('th', { text: 'when' }), el('th', { text: 'query' }), el('th', { text: 'scopes' }), el('th', { text: 'hits' }))),
          el('tbody', {}, list.map(r => el('tr', {}, el('td', {}, when(r.at)), el('td', {}, link(`#/recall/${encodeURIComponent(r.retrievalId)}`, r.query)),
            el('td', { text: r.scopes.join(' + ') }), el('td', { text: r.hits })))))
      : el('p', { class: 'muted', text: 'No recalls logged yet.' }));
}

// Why did a memory not surface? A query, and the memory (an id, or a search to pick it by its words).
function showWhy() {
  const query = el('input', { type: 'search', name: 'query', placeholder: 'The query that should have found it', 'aria-label': 'Query', required: true });
  const target = el('input', { type: 'text', name: 'memory', placeholder: 'The memory: its id, or words of it', 'aria-label': 'Memory' });
  const out = el('div');
  put(main, el('h1', { text: 'Why was it not found?' }),
    el('p', { class: 'muted', text: `Runs the query over ${state.scope} and accounts for the memory: found, filtered (and why), or not a candidate.` }),
    el('form', { class: 'search', onsubmit: async e => {
      e.preventDefault();
      try {
        let id = target.value.trim();
        if (id && !/^mem_[A-Za-z0-9]+$/.test(id)) {
          const found = await api('/api/search', { query: id, scope: state.scope, limit: 1, includeSuperseded: true });
          id = found.memories[0]?.id || '';
        }
        put(out, ...explainView(await api('/api/explain', { query: query.value, scope: state.scope, memoryId: id || null }), 'Explained'));
      } catch (err) { put(out, el('p', { class: 'error', text: err.message })); }
    } }, query, target, el('button', { class: 'act', type: 'submit', text: 'Explain' })), out);
  query.focus();
}

function showRemember() {
  const content = el('textarea', { rows: 4, cols: 70, 'aria-label': 'Content', required: true, placeholder: 'A fact worth remembering' });
  const tagInput = el('input', { type: 'text', 'aria-label': 'Tags', placeholder: 'tags, comma-separated' });
  const out = el('div');
  put(main, el('h1', { text: `Remember in ${state.scope}` }),
    el('form', { onsubmit: async e => {
      e.preventDefault();
      try {
        const r = await api('/api/remember', { content: content.value, scope: state.scope, tags: tagList(tagInput.value) });
        put(out, el('p', {}, `${r.status}: `, link(`#/memory/${encodeURIComponent(r.id)}`, r.id),
          r.similar?.length ? ` · similar: ${r.similar.map(s => s.id).join(', ')}` : ''));
        content.value = '';
        await loadOverview();
      } catch (err) { put(out, el('p', { class: 'error', text: err.message })); }
    } }, el('p', {}, content), el('p', {}, tagInput, ' ', el('button', { class: 'act', type: 'submit', text: 'Remember' }))), out);
  content.focus();
}

async function route() {
  const [, view, arg] = location.hash.split('/');
  const id = arg ? decodeURIComponent(arg) : null;
  try {
    if (!state.overview) await loadOverview();
    renderScopes();
    if (view === 'memory' && id) await showMemory(id);
    else if (view === 'recall' && id) await showRecall(id);
    else if (view === 'recalls') await showRecalls();
    else if (view === 'why') showWhy();
    else if (view === 'remember') showRemember();
    else await showMemories();
  } catch (err) {
    put(main, el('p', { class: 'error', role: 'alert', text: err.message }));
  }
}

// '/' goes to the page's search box, as on most sites; Escape leaves a field.
document.addEventListener('keydown', e => {
  const typing = ['INPUT', 'TEXTAREA', 'SELECT'].includes(document.activeElement?.tagName);
  if (e.key === '/' && !typing) {
    const box = main.querySelector('input[type=search]');
    if (box) { e.preventDefault(); box.focus(); }
  } else if (e.key === 'Escape' && typing) {
    document.activeElement.blur();
  }
});

window.addEventListener('hashchange', route);
route();
