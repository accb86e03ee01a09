// The dais web client: joins a conference on a dais appliance from a
// browser (docs/signalling.md). Plain JavaScript, no libraries.
//
// The URL: /webrtc/<CID>#login=*guest*<name>&token=<link token>&lang=auto
// (from software/clients), or /webrtc/<CID>?name=<name>&pin=<pin>.
// Options in the query: autojoin=1 (skip the lobby), processing=off (no
// browser echo cancellation, noise suppression or gain control).
//
// window.dais exposes the client's state for automation and tests.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const cid = decodeURIComponent(location.pathname.split('/').filter(Boolean).pop() || '');
  const hash = new URLSearchParams(location.hash.slice(1));
  const query = new URLSearchParams(location.search);
  const linkToken = hash.get('token');
  const loginName = (hash.get('login') || '').replace(/^\*guest\*/, '');
  const autoJoin = query.get('autojoin') === '1';
  // ?processing=off: the browser's echo canceller, noise suppressor and gain
  // control stay out (a kiosk or room PC with its own audio processor).
  const dsp = query.get('processing') !== 'off';

  const state = {
    cid,
    phase: 'lobby',        // lobby, joining, waiting, admitted, over
    participantId: null,
    role: null,
    mode: null,
    reason: null,
    micMuted: false,
    cameraOff: false,
    sharing: false,
    roster: [],
    tracks: {},            // mid -> {kind, participant, displayName}
    chat: [],
    announcements: [],
    errors: [],
    peer: 0,
  };
  let ws = null;
  let pc = null;
  let local = null;        // the camera + microphone stream
  let screen = null;       // the shared screen stream
  let contentSender = null;
  const media = {};        // mid -> {el, stream, kind}
  let audioCtx = null;

  // ---- helpers ----------------------------------------------------------------

  function show(id) {
    for (const s of ['lobby', 'waiting', 'room', 'over']) $(s).hidden = s !== id;
  }
  function status(text) { $('status').textContent = text; }
  function send(msg) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  }
  function manager() {
    return ['owner', 'moderator', 'operator'].includes(state.role);
  }
  function el(tag, props = {}, ...children) {
    const e = document.createElement(tag);
    Object.assign(e, props);
    for (const c of children) e.append(c);
    return e;
  }
  function level(stream) {
    // A live RMS meter on a stream's audio (0 to 1).
    if (!stream || stream.getAudioTracks().length === 0) return () => 0;
    audioCtx = audioCtx || new AudioContext();
    const src = audioCtx.createMediaStreamSource(stream);
    const an = audioCtx.createAnalyser();
    an.fftSize = 2048;
    src.connect(an);
    const buf = new Float32Array(an.fftSize);
    return () => {
      an.getFloatTimeDomainData(buf);
      let s = 0;
      for (const x of buf) s += x * x;
      return Math.sqrt(s / buf.length);
    };
  }

  // ---- devices ----------------------------------------------------------------

  async function openDevices() {
    const wantAudio = $('join-mic').checked;
    const wantVideo = $('join-cam').checked;
    try {
      local = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: dsp, noiseSuppression: dsp, autoGainControl: dsp },
        video: { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } },
      });
    } catch (e) {
      // A missing camera should not keep someone out: try audio alone.
      try {
        local = await navigator.mediaDevices.getUserMedia({ audio: true });
      } catch (e2) {
        local = new MediaStream();
        state.errors.push('devices: ' + e2.message);
        status('No camera or microphone: you can still watch and listen.');
      }
    }
    $('preview').srcObject = local;
    $('self').srcObject = local;
    const meter = level(local);
    const tick = () => {
      $('preview-level').style.width = Math.min(100, meter() * 400) + '%';
      if (state.phase === 'lobby') requestAnimationFrame(tick);
    };
    tick();
    setMic(!wantAudio, false);
    setCam(!wantVideo, false);
  }

  function setMic(muted, tell = true) {
    state.micMuted = muted;
    if (local) for (const t of local.getAudioTracks()) t.enabled = !muted;
    $('mic').textContent = muted ? 'Unmute' : 'Mute';
    $('mic').setAttribute('aria-pressed', String(muted));
    $('mic').setAttribute('aria-label', muted ? 'Unmute microphone' : 'Mute microphone');
    if (tell) send({ type: 'media', micMuted: muted });
  }

  function setCam(off, tell = true) {
    state.cameraOff = off;
    if (local) for (const t of local.getVideoTracks()) t.enabled = !off;
    $('cam').textContent = off ? 'Camera on' : 'Camera off';
    $('cam').setAttribute('aria-pressed', String(off));
    $('cam').setAttribute('aria-label', off ? 'Turn camera on' : 'Turn camera off');
    if (tell) send({ type: 'media', cameraOff: off });
  }

  async function toggleShare() {
    if (!contentSender) return;
    if (screen) {
      stopShare();
      return;
    }
    try {
      screen = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    } catch (e) {
      state.errors.push('share: ' + e.message);
      return;
    }
    const track = screen.getVideoTracks()[0];
    track.onended = stopShare;
    await contentSender.replaceTrack(track);
    state.sharing = true;
    $('share').setAttribute('aria-pressed', 'true');
    $('share').textContent = 'Stop sharing';
    send({ type: 'share', on: true });
  }

  function stopShare() {
    if (screen) for (const t of screen.getTracks()) t.stop();
    screen = null;
    if (contentSender) contentSender.replaceTrack(null);
    state.sharing = false;
    $('share').setAttribute('aria-pressed', 'false');
    $('share').textContent = 'Share screen';
    send({ type: 'share', on: false });
  }

  // ---- signalling ---------------------------------------------------------------

  function join(event) {
    if (event) event.preventDefault();
    const name = $('name').value.trim();
    const pin = $('pin').value.trim();
    if (!linkToken && !name) {
      $('name').focus();
      return;
    }
    state.phase = 'joining';
    status('Joining…');
    const proto = location.protocol === 'https:' ? 'wss' : 'ws';
    ws = new WebSocket(`${proto}://${location.host}/webrtc/signalling/ws`);
    ws.onopen = () => {
      const msg = { type: 'join', cid };
      if (linkToken) msg.linkToken = linkToken;
      if (name) msg.displayName = name;
      if (pin) msg.pin = pin;
      send(msg);
    };
    ws.onmessage = (e) => {
      let m;
      try { m = JSON.parse(e.data); } catch (_) { return; }
      handle(m).catch((err) => state.errors.push(String(err)));
    };
    ws.onclose = () => {
      if (state.phase !== 'over') over('The connection to the conference was lost.');
    };
  }

  async function handle(m) {
    switch (m.type) {
      case 'joined':
        state.participantId = m.participantId;
        state.role = m.role;
        state.mode = m.conference.mode;
        $('topic').textContent = m.conference.topic;
        document.title = m.conference.topic + ' — dais';
        if (m.micMuted && !state.micMuted) setMic(true, false);
        else if (state.micMuted) send({ type: 'media', micMuted: true });
        if (state.cameraOff) send({ type: 'media', cameraOff: true });
        place(m.state, m.reason);
        break;
      case 'refused':
        state.reason = m.reason;
        over(m.message + '.', true);
        break;
      case 'state':
        state.role = m.role;
        if (m.micMuted && !state.micMuted) setMic(true, false);
        if (m.cameraOff && !state.cameraOff) setCam(true, false);
        place(m.state, m.reason);
        renderRoster();
        break;
      case 'offer':
        await offer(m.sdp, m.peer);
        break;
      case 'candidate':
        if (pc && m.peer === state.peer && m.candidate) {
          try {
            await pc.addIceCandidate({ candidate: m.candidate, sdpMLineIndex: m.mline });
          } catch (e) { state.errors.push('candidate: ' + e.message); }
        }
        break;
      case 'roster':
        state.roster = m.participants;
        renderRoster();
        break;
      case 'tracks':
        state.tracks = {};
        for (const t of m.tracks) state.tracks[t.mid] = t;
        renderTiles();
        break;
      case 'chatHistory':
        state.chat = m.messages;
        renderChat();
        break;
      case 'chat':
        state.chat.push(m.message);
        renderChat();
        break;
      case 'announce':
        state.announcements.push(m);
        status((m.displayName || 'Someone') + (m.event === 'joined' ? ' joined' : ' left'));
        break;
      case 'ended':
        over(m.message + '.');
        break;
      case 'error':
        state.errors.push(m.code + ': ' + m.message);
        status(m.message);
        break;
    }
  }

  function place(where, reason) {
    state.reason = reason || null;
    if (where === 'waiting') {
      state.phase = 'waiting';
      closePeer();
      const texts = {
        waiting_room: 'You are in the waiting room. A moderator will let you in.',
        waiting_for_host: 'Waiting for the host to join.',
        awaiting_approval: 'Waiting for the owner to accept your request.',
      };
      $('waiting-text').textContent = texts[reason] || 'Please wait.';
      status('Waiting');
      show('waiting');
    } else {
      state.phase = 'admitted';
      status('In the conference');
      show('room');
    }
  }

  function closePeer() {
    if (pc) pc.close();
    pc = null;
    contentSender = null;
    for (const mid of Object.keys(media)) {
      media[mid].el.remove();
      delete media[mid];
    }
    renderTiles();
  }

  // Directions per m-line id, as the offer states them.
  function directions(sdp) {
    const out = [];
    let cur = null;
    for (const line of sdp.split(/\r?\n/)) {
      if (line.startsWith('m=')) {
        cur = { kind: line.slice(2).split(' ')[0], dir: 'sendrecv', mid: null };
        out.push(cur);
      } else if (cur && /^a=(sendrecv|sendonly|recvonly|inactive)$/.test(line)) {
        cur.dir = line.slice(2);
      } else if (cur && line.startsWith('a=mid:')) {
        cur.mid = line.slice(6);
      }
    }
    return out;
  }

  async function offer(sdp, peer) {
    if (!pc || peer !== state.peer) {
      closePeer();
      state.peer = peer;
      pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: 'max-bundle' });
      pc.onicecandidate = (e) => {
        if (e.candidate) {
          send({ type: 'candidate', mline: e.candidate.sdpMLineIndex || 0, candidate: e.candidate.candidate });
        }
      };
      pc.ontrack = (e) => addMedia(e.transceiver.mid, e.track);
      pc.onconnectionstatechange = () => {
        if (pc && pc.connectionState === 'failed') status('The media connection failed.');
      };
    }
    await pc.setRemoteDescription({ type: 'offer', sdp });
    // The server receives on its receive-only m-lines: the microphone, the
    // camera, then content (the second video one).
    const lines = directions(sdp);
    let videos = 0;
    for (const t of pc.getTransceivers()) {
      const line = lines.find((l) => l.mid === t.mid);
      if (!line || line.dir !== 'recvonly') continue;
      if (line.kind === 'audio') {
        const track = local && local.getAudioTracks()[0];
        if (t.sender.track !== (track || null)) await t.sender.replaceTrack(track || null);
        t.direction = 'sendonly';
      } else if (line.kind === 'video') {
        videos += 1;
        if (videos === 1) {
          const track = local && local.getVideoTracks()[0];
          if (t.sender.track !== (track || null)) await t.sender.replaceTrack(track || null);
        } else {
          contentSender = t.sender;
          const track = screen && screen.getVideoTracks()[0];
          if (t.sender.track !== (track || null)) await t.sender.replaceTrack(track || null);
        }
        t.direction = 'sendonly';
      }
    }
    await pc.setLocalDescription(await pc.createAnswer());
    send({ type: 'answer', sdp: pc.localDescription.sdp });
  }

  function addMedia(mid, track) {
    if (media[mid]) {
      media[mid].stream.addTrack(track);
      return;
    }
    const stream = new MediaStream([track]);
    let elm;
    if (track.kind === 'video') {
      const v = el('video', { autoplay: true, playsInline: true, muted: true });
      v.srcObject = stream;
      elm = el('div', { className: 'tile' }, v, el('span', { className: 'name' }));
      elm.dataset.mid = mid;
      $('tiles').append(elm);
    } else {
      elm = el('audio', { autoplay: true });
      elm.srcObject = stream;
      elm.dataset.mid = mid;
      $('audio').append(elm);
    }
    media[mid] = { el: elm, stream, kind: track.kind, meter: track.kind === 'audio' ? level(stream) : null };
    renderTiles();
  }

  // ---- rendering ------------------------------------------------------------------

  function renderTiles() {
    let shown = 0;
    for (const [mid, m] of Object.entries(media)) {
      if (m.kind !== 'video') continue;
      const t = state.tracks[mid];
      const visible = !!(t && t.participant);
      m.el.hidden = !visible;
      m.el.classList.toggle('content', !!(t && t.kind === 'content'));
      const label = m.el.querySelector('.name');
      if (label) label.textContent = t ? (t.displayName || '') + (t.kind === 'content' ? ' (screen)' : '') : '';
      m.el.setAttribute('aria-label', label ? label.textContent : '');
      if (visible) shown += 1;
    }
    $('tiles').style.setProperty('--cols', String(Math.max(1, Math.ceil(Math.sqrt(shown)))));
  }

  function button(text, label, onclick) {
    const b = el('button', { type: 'button', className: 'small', textContent: text, onclick });
    b.setAttribute('aria-label', label);
    return b;
  }

  function renderRoster() {
    const waiting = $('waiting-people');
    const present = $('present-people');
    waiting.replaceChildren();
    present.replaceChildren();
    const mod = manager();
    let waitingCount = 0;
    for (const p of state.roster) {
      const me = p.id === state.participantId;
      const who = el('span', { className: 'who', textContent: p.displayName + (me ? ' (you)' : '') });
      const role = el('span', { className: 'role', textContent: p.role + (p.podium ? ' · podium' : '') + (p.micMuted ? ' · muted' : '') });
      const li = el('li', {}, who, role);
      li.dataset.id = p.id;
      if (p.state === 'waiting') {
        waitingCount += 1;
        if (mod) {
          li.append(button('Invite', 'Invite ' + p.displayName + ' to the conference', () => send({ type: 'admit', id: p.id })));
          if (p.reason === 'awaiting_approval') {
            li.append(button('Decline', 'Decline ' + p.displayName, () => send({ type: 'reject', id: p.id })));
          }
        }
        waiting.append(li);
        continue;
      }
      if (mod && !me) {
        if (state.mode !== 'S|L Auto') {
          li.append(button(p.podium ? 'Off podium' : 'To podium', (p.podium ? 'Take ' : 'Put ') + p.displayName + (p.podium ? ' off the podium' : ' on the podium'),
            () => send({ type: 'podium', id: p.id, on: !p.podium })));
        }
        if (!p.micMuted) li.append(button('Mute', 'Mute ' + p.displayName, () => send({ type: 'mute', id: p.id, mic: true })));
        li.append(button('Waiting room', 'Put ' + p.displayName + ' in the waiting room', () => send({ type: 'toWaitingRoom', id: p.id })));
        li.append(button('Remove', 'Remove ' + p.displayName, () => send({ type: 'remove', id: p.id })));
      }
      present.append(li);
    }
    $('waiting-list').hidden = !(mod && waitingCount > 0);
  }

  function renderChat() {
    const list = $('messages');
    list.replaceChildren();
    for (const m of state.chat) {
      const when = new Date(m.at * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
      list.append(el('li', {}, el('div', { className: 'from', textContent: m.displayName + ' · ' + when }), el('div', { textContent: m.text })));
    }
    list.scrollTop = list.scrollHeight;
  }

  function over(text, canRetry = true) {
    state.phase = 'over';
    closePeer();
    stopShareQuietly();
    if (ws) { ws.onclose = null; ws.close(); }
    ws = null;
    $('over-text').textContent = text;
    $('rejoin').hidden = !canRetry || !!linkToken;
    status('Not connected');
    show('over');
  }

  function stopShareQuietly() {
    if (screen) for (const t of screen.getTracks()) t.stop();
    screen = null;
  }

  // ---- status for automation ----------------------------------------------------

  async function stats() {
    const out = { video: {}, audio: {} };
    if (!pc) return out;
    const report = await pc.getStats();
    report.forEach((r) => {
      if (r.type !== 'inbound-rtp') return;
      const entry = {
        framesDecoded: r.framesDecoded || 0, packets: r.packetsReceived || 0,
        width: r.frameWidth || 0, height: r.frameHeight || 0,
        // What went wrong on the way here and what was asked again.
        lost: r.packetsLost || 0, nacks: r.nackCount || 0, plis: r.pliCount || 0,
        freezes: r.freezeCount || 0, frozenMs: Math.round((r.totalFreezesDuration || 0) * 1000),
      };
      if (r.kind === 'video') out.video[r.mid] = entry;
      else out.audio[r.mid] = { packets: r.packetsReceived || 0, energy: r.totalAudioEnergy || 0 };
    });
    return out;
  }

  // A received tile's frame drawn at w x h (its own size when not given),
  // as canvas pixels; null before its first frame.
  function frame(mid, w, h) {
    const m = media[mid];
    if (!m || m.kind !== 'video') return null;
    const v = m.el.querySelector('video');
    if (!v || !v.videoWidth) return null;
    const c = document.createElement('canvas');
    c.width = w || v.videoWidth; c.height = h || v.videoHeight;
    const g = c.getContext('2d');
    g.drawImage(v, 0, 0, c.width, c.height);
    return g.getImageData(0, 0, c.width, c.height);
  }

  // Average colour of a received tile's frame, to tell whose video it is.
  function colour(mid) {
    const f = frame(mid, 16, 16);
    if (!f) return null;
    const d = f.data;
    let r = 0, gg = 0, b = 0;
    for (let i = 0; i < d.length; i += 4) { r += d[i]; gg += d[i + 1]; b += d[i + 2]; }
    const n = d.length / 4;
    return [Math.round(r / n), Math.round(gg / n), Math.round(b / n)];
  }

  // A received tile's frame as it arrives (its own size), RGBA in base64:
  // tests read the test card back out of it.
  function picture(mid) {
    const f = frame(mid);
    if (!f) return null;
    const d = f.data;
    let bin = '';
    for (let i = 0; i < d.length; i += 0x8000) bin += String.fromCharCode.apply(null, d.subarray(i, i + 0x8000));
    return { width: f.width, height: f.height, rgba: btoa(bin) };
  }

  // Sends the camera at 1/factor of its size, as a browser does by itself
  // under load; true once the sender took it.
  async function scaleCamera(factor) {
    const track = local && local.getVideoTracks()[0];
    const sender = pc && track && pc.getSenders().find((x) => x.track === track);
    if (!sender) return false;
    const p = sender.getParameters();
    if (!p.encodings || !p.encodings.length) return false;
    p.encodings[0].scaleResolutionDownBy = factor;
    await sender.setParameters(p);
    return true;
  }

  window.dais = {
    state,
    stats,
    colour,
    picture,
    scaleCamera,
    // RMS of what each received audio track plays now (0 to 1).
    levels() {
      const out = {};
      for (const [mid, m] of Object.entries(media)) if (m.meter) out[mid] = m.meter();
      return out;
    },
    join: () => join(),
    send,
    setMic,
    setCam,
  };

  // ---- start ------------------------------------------------------------------------

  $('join-form').addEventListener('submit', join);
  $('mic').addEventListener('click', () => setMic(!state.micMuted));
  $('cam').addEventListener('click', () => setCam(!state.cameraOff));
  $('share').addEventListener('click', toggleShare);
  $('leave').addEventListener('click', () => { send({ type: 'leave' }); over('You left the conference.'); });
  $('waiting-leave').addEventListener('click', () => { send({ type: 'leave' }); over('You left the conference.'); });
  $('admit-all').addEventListener('click', () => send({ type: 'admitAll' }));
  $('rejoin').addEventListener('click', () => location.reload());
  $('chat-toggle').addEventListener('click', () => {
    const hidden = $('room').classList.toggle('no-side');
    $('chat-toggle').setAttribute('aria-expanded', String(!hidden));
  });
  $('chat-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = $('chat-text').value.trim();
    if (!text) return;
    send({ type: 'chat', text });
    $('chat-text').value = '';
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) send({ type: 'refresh' });
  });
  if (!('RTCPeerConnection' in window)) {
    over('This browser cannot take part in video calls (no WebRTC).', false);
    return;
  }
  $('name').value = loginName || query.get('name') || '';
  $('pin').value = query.get('pin') || '';
  if (linkToken && loginName) $('name-row').hidden = true;
  show('lobby');
  status(cid ? 'Conference ' + cid : 'No conference in the address');
  // The lobby shows the camera and the microphone level first; ?autojoin=1
  // (kiosks, embedding pages that already asked) goes straight in.
  openDevices().then(() => {
    if (autoJoin) join();
  });
})();
