/*
 * Onderwijsloket assistant: the embeddable chat widget.
 *
 * Embed with:  <script src="https://<assistant-host>/widget.js" data-profile="default" async></script>
 *
 * Plain JavaScript, no framework and no build step. Everything lives in this IIFE; the only global is
 * window.OnderwijsloketWidget (a small handle for tests and host pages: open, close, clear, renderMarkdown).
 *
 * Safety: model output is never put into the page as HTML. renderMarkdown() escapes every piece of text
 * first and only then adds the few tags it knows (p, br, strong, em, ul/ol/li, blockquote, a); everything
 * else (source cards, referrals, feedback) is built with createElement and textContent.
 */
(function () {
  "use strict";

  if (window.OnderwijsloketWidget) return; // the script was included twice: one widget is enough

  var VERSION = "1.0.0";
  var MAX_MESSAGE = 2000; // the API's limit (ChatRequest.message)
  var MAX_COMMENT = 1000; // the API's limit (FeedbackRequest.comment)
  var MAX_STORED = 60; // messages kept in sessionStorage
  var THANKS = "Bedankt voor je feedback";
  var THANKS_COMMENT = "Bedankt voor je feedback en je toelichting!";
  var NETWORK_ERROR =
    "Er is geen verbinding met de assistent. Controleer je internetverbinding en probeer het opnieuw.";

  // ---------------------------------------------------------------------------------------------------
  // Where we come from: the API base is the folder our own <script src> lives in.
  // document.currentScript is null when the script runs async after a reload in some browsers.
  var script =
    document.currentScript ||
    document.querySelector('script[src*="widget.js"][data-profile]') ||
    document.querySelector('script[src*="widget.js"]');
  var scriptSrc = (script && script.src) || "";
  var BASE;
  try {
    BASE = new URL(".", scriptSrc || window.location.href).href;
  } catch (e) {
    BASE = window.location.origin + "/";
  }
  var PROFILE = (script && script.getAttribute("data-profile")) || "default";
  var STORAGE_KEY = "onderwijsloket-widget:" + PROFILE;
  var UID = "olw" + Math.random().toString(36).slice(2, 8);

  function api(path) {
    return new URL(path.replace(/^\//, ""), BASE).href;
  }

  var DEFAULT_PROFILE = {
    id: PROFILE,
    name: "Onderwijsloket",
    theme: { primary: "#1d3c78", on_primary: "#ffffff", accent: "#e8eef9", logo: "" },
    intro: {
      nl:
        "Hoi! Ik beantwoord je vragen over werken in het onderwijs, met bronnen uit de kennisbank. " +
        "Ik geef geen persoonlijk oordeel en kan me vergissen.",
    },
  };

  // ---------------------------------------------------------------------------------------------------
  // Small helpers

  function escapeHtml(text) {
    return String(text)
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;")
      .replace(/'/g, "&#39;");
  }

  /** An absolute URL for a link target, or null. Only http(s) and site-relative ("/x", not "//x"). */
  function safeUrl(url, extraSchemes) {
    if (typeof url !== "string") return null;
    url = url.trim();
    if (!url || /[\s<>"'`\\]/.test(url)) return null;
    if (/^\/(?!\/)/.test(url)) return new URL(url, BASE).href; // relative to the assistant's own site
    if (/^https?:\/\//i.test(url)) {
      try {
        return new URL(url).href;
      } catch (e) {
        return null;
      }
    }
    if (extraSchemes && /^(tel|mailto):[^\s]+$/i.test(url)) return url;
    return null;
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === null || value === undefined || value === false) return;
        if (key === "text") node.textContent = value;
        else if (key === "className") node.className = value;
        else node.setAttribute(key, value === true ? "" : value);
      });
    }
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function svgIcon(paths, size) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", size || 20);
    svg.setAttribute("height", size || 20);
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    paths.forEach(function (d) {
      var path = document.createElementNS(ns, "path");
      path.setAttribute("d", d);
      svg.appendChild(path);
    });
    return svg;
  }

  var ICONS = {
    chat: ["M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"],
    down: ["M6 9l6 6 6-6"],
    close: ["M6 6l12 12", "M18 6L6 18"],
    trash: ["M4 7h16", "M9 7V4h6v3", "M6 7l1 13h10l1-13"],
    send: ["M4 12l16-8-6 16-2-7z"],
    up: [
      "M7 11v9H4v-9z",
      "M7 11l4-7c1.5 0 2.5 1 2 3l-.6 3H19a2 2 0 0 1 2 2.3l-1.2 6A2 2 0 0 1 17.8 20H7",
    ],
    thumbDown: [
      "M17 13V4h3v9z",
      "M17 13l-4 7c-1.5 0-2.5-1-2-3l.6-3H5a2 2 0 0 1-2-2.3l1.2-6A2 2 0 0 1 6.2 4H17",
    ],
  };

  function clock(seconds) {
    var total = Math.max(0, Math.floor(Number(seconds) || 0));
    var mm = Math.floor(total / 60);
    var ss = total % 60;
    return (mm < 10 ? "0" : "") + mm + ":" + (ss < 10 ? "0" : "") + ss;
  }

  // Colours: only #rgb / #rrggbb from a profile; contrast is checked so a theme cannot break AA.
  function parseHex(value) {
    if (typeof value !== "string") return null;
    var m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(value.trim());
    if (!m) return null;
    var hex = m[1].length === 3 ? m[1].replace(/(.)/g, "$1$1") : m[1];
    return [0, 2, 4].map(function (i) {
      return parseInt(hex.slice(i, i + 2), 16);
    });
  }

  function luminance(rgb) {
    var c = rgb.map(function (v) {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  }

  function contrast(a, b) {
    var la = luminance(a);
    var lb = luminance(b);
    return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
  }

  // ---------------------------------------------------------------------------------------------------
  // The safe markdown subset

  /** Inline markdown on RAW text: every text piece is escaped, then links, [n], **bold** and *italic*. */
  function inline(raw, msgId, citationNumbers) {
    var pattern =
      /\[([^\[\]\n]+)\]\(([^()\s]+)\)|\[(\d{1,3})\]|\*\*([^\n]+?)\*\*|\*([^*\s](?:[^*\n]*[^*\s])?)\*/g;
    var out = "";
    var last = 0;
    var m;
    while ((m = pattern.exec(raw)) !== null) {
      out += escapeHtml(raw.slice(last, m.index));
      last = pattern.lastIndex;
      if (m[1] !== undefined) {
        var href = safeUrl(m[2]);
        if (href) {
          out +=
            '<a href="' +
            escapeHtml(href) +
            '" target="_blank" rel="noopener">' +
            escapeHtml(m[1]) +
            "</a>";
        } else {
          out += escapeHtml(m[0]); // javascript:, data: and friends stay visible text
        }
      } else if (m[3] !== undefined) {
        var n = parseInt(m[3], 10);
        if (msgId && (!citationNumbers || citationNumbers.indexOf(n) !== -1)) {
          out +=
            '<a class="olw-cite" href="#cite-' +
            escapeHtml(msgId) +
            "-" +
            n +
            '" aria-label="Bron ' +
            n +
            '">[' +
            n +
            "]</a>";
        } else {
          out += escapeHtml(m[0]);
        }
      } else if (m[4] !== undefined) {
        out += "<strong>" + inline(m[4], msgId, citationNumbers) + "</strong>";
      } else {
        out += "<em>" + inline(m[5], msgId, citationNumbers) + "</em>";
      }
    }
    return out + escapeHtml(raw.slice(last));
  }

  /**
   * Markdown (a safe subset) to HTML: paragraphs, line breaks, **bold**, *italic*, "- " lists, "1. " lists,
   * "> " quotes, [text](http(s) or /site-relative url) and citation markers [n] (linked to #cite-<msgId>-n;
   * when citationNumbers is given, only those numbers are linked).
   */
  function renderMarkdown(text, msgId, citationNumbers) {
    var lines = String(text || "")
      .replace(/\r\n?/g, "\n")
      .split("\n");
    var html = [];
    var block = null; // {type: "p"|"ul"|"ol"|"quote", items: [...]}

    function flush() {
      if (!block) return;
      var render = function (item) {
        return inline(item, msgId, citationNumbers);
      };
      if (block.type === "p") html.push("<p>" + block.items.map(render).join("<br>") + "</p>");
      else if (block.type === "quote")
        html.push("<blockquote><p>" + block.items.map(render).join("<br>") + "</p></blockquote>");
      else
        html.push(
          "<" +
            block.type +
            ">" +
            block.items
              .map(function (item) {
                return "<li>" + item.split("\n").map(render).join("<br>") + "</li>";
              })
              .join("") +
            "</" +
            block.type +
            ">"
        );
      block = null;
    }

    function add(type, item) {
      if (!block || block.type !== type) {
        flush();
        block = { type: type, items: [] };
      }
      block.items.push(item);
    }

    lines.forEach(function (line) {
      var m;
      if (!line.trim()) {
        flush();
      } else if ((m = /^\s{0,3}[-*•]\s+(.*)$/.exec(line))) {
        add("ul", m[1]);
      } else if ((m = /^\s{0,3}\d{1,3}[.)]\s+(.*)$/.exec(line))) {
        add("ol", m[1]);
      } else if ((m = /^\s{0,3}>\s?(.*)$/.exec(line))) {
        add("quote", m[1]);
      } else if ((m = /^\s{0,3}#{1,6}\s+(.*)$/.exec(line))) {
        flush();
        add("p", "**" + m[1].replace(/\*\*/g, "") + "**");
        flush();
      } else if (block && (block.type === "ul" || block.type === "ol") && /^\s{2,}\S/.test(line)) {
        block.items[block.items.length - 1] += "\n" + line.trim(); // a continued list item
      } else {
        add("p", line);
      }
    });
    flush();
    return html.join("");
  }

  /** Plain text of an answer for the screen-reader announcement. */
  function plainText(text) {
    return String(text || "")
      .replace(/\[([^\[\]\n]+)\]\([^()\s]+\)/g, "$1")
      .replace(/\s*\[\d{1,3}\]/g, "")
      .replace(/\*\*|\*/g, "")
      .replace(/^\s*(?:[-•>]|\d{1,3}[.)]|#{1,6})\s+/gm, "")
      .replace(/\s+/g, " ")
      .trim();
  }

  // ---------------------------------------------------------------------------------------------------
  // Server-Sent Events over fetch (EventSource cannot POST)

  function SseParser(onEvent) {
    this.buffer = "";
    this.type = "";
    this.data = [];
    this.onEvent = onEvent;
  }

  SseParser.prototype.push = function (chunk, final) {
    this.buffer += chunk;
    var m;
    while ((m = /\r\n|\r|\n/.exec(this.buffer)) !== null) {
      // A lone "\r" at the very end may be the first half of "\r\n": wait for the next chunk.
      if (m[0] === "\r" && m.index === this.buffer.length - 1 && !final) break;
      var line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      this.line(line);
    }
    if (final) {
      if (this.buffer) this.line(this.buffer);
      this.buffer = "";
      this.line(""); // a stream that ends without a blank line still delivers its last event
    }
  };

  SseParser.prototype.line = function (line) {
    if (line === "") {
      if (this.data.length) this.onEvent(this.type || "message", this.data.join("\n"));
      this.type = "";
      this.data = [];
      return;
    }
    if (line.charAt(0) === ":") return; // a comment (sse-starlette's ping)
    var colon = line.indexOf(":");
    var field = colon === -1 ? line : line.slice(0, colon);
    var value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") this.type = value;
    else if (field === "data") this.data.push(value);
  };

  // ---------------------------------------------------------------------------------------------------
  // State: the conversation, kept in sessionStorage per profile

  var state = { conversationId: null, messages: [] };
  var busy = false;
  var controller = null;
  var seq = 0;

  function newId() {
    seq += 1;
    return "m" + Date.now().toString(36) + seq;
  }

  function load() {
    try {
      var raw = window.sessionStorage.getItem(STORAGE_KEY);
      if (!raw) return;
      var saved = JSON.parse(raw);
      if (!saved || !Array.isArray(saved.messages)) return;
      state.conversationId = typeof saved.conversationId === "string" ? saved.conversationId : null;
      state.messages = saved.messages.filter(function (msg) {
        return msg && (msg.role === "user" || msg.role === "assistant") && typeof msg.text === "string";
      });
      state.messages.forEach(function (msg) {
        if (msg.pending) {
          msg.pending = false; // the page was left while this answer streamed
          msg.interrupted = true;
        }
      });
    } catch (e) {
      /* storage disabled or damaged: start empty */
    }
  }

  function save() {
    try {
      var messages = state.messages
        .filter(function (msg) {
          return !msg.error; // an error message is of no use after a reload
        })
        .slice(-MAX_STORED);
      window.sessionStorage.setItem(
        STORAGE_KEY,
        JSON.stringify({ v: 1, conversationId: state.conversationId, messages: messages })
      );
    } catch (e) {
      /* storage full or disabled: the conversation just does not survive a reload */
    }
  }

  function forget() {
    try {
      window.sessionStorage.removeItem(STORAGE_KEY);
    } catch (e) {
      /* nothing to forget */
    }
  }

  /**
   * message_index for feedback: the 0-based count of assistant answers before this one in the same server
   * conversation (the first answer is 0, the second 1, ...). Error messages never reached the server and
   * do not count; a new conversation (after "Gesprek wissen" or an expired id) starts again at 0.
   */
  function nextAnswerIndex(conversationId) {
    return state.messages.filter(function (msg) {
      return msg.role === "assistant" && !msg.error && msg.conversationId === conversationId && msg.done;
    }).length;
  }

  // ---------------------------------------------------------------------------------------------------
  // The DOM

  var ui = {};
  var profile = DEFAULT_PROFILE;

  function build() {
    var titleId = UID + "-title";
    var panelId = UID + "-panel";
    var inputId = UID + "-input";
    var introId = UID + "-intro";

    ui.root = el("div", { className: "olw-root", "data-profile": PROFILE, lang: "nl" });

    ui.launcher = el(
      "button",
      {
        type: "button",
        className: "olw-launcher",
        "aria-label": "Open de chatassistent",
        "aria-expanded": "false",
        "aria-haspopup": "dialog",
        "aria-controls": panelId,
      },
      [
        el("span", { className: "olw-launcher-icon olw-launcher-icon--chat" }, [svgIcon(ICONS.chat, 28)]),
        el("span", { className: "olw-launcher-icon olw-launcher-icon--open" }, [svgIcon(ICONS.down, 28)]),
      ]
    );

    ui.logo = el("img", { className: "olw-logo", alt: "", width: "32", height: "32", hidden: true });
    ui.title = el("h2", { className: "olw-title", id: titleId, text: profile.name });
    ui.clearButton = el(
      "button",
      {
        type: "button",
        className: "olw-icon-button olw-clear",
        "aria-label": "Gesprek wissen",
        title: "Gesprek wissen",
      },
      [svgIcon(ICONS.trash)]
    );
    ui.closeButton = el(
      "button",
      { type: "button", className: "olw-icon-button olw-close", "aria-label": "Sluiten", title: "Sluiten" },
      [svgIcon(ICONS.close)]
    );
    var header = el("div", { className: "olw-header" }, [
      ui.logo,
      el("div", { className: "olw-heading" }, [
        ui.title,
        el("p", { className: "olw-subtitle", text: "Digitale assistent" }),
      ]),
      ui.clearButton,
      ui.closeButton,
    ]);

    ui.intro = el("p", { className: "olw-intro-text", id: introId, text: introText() });
    var introBox = el("div", { className: "olw-intro" }, [
      ui.intro,
      el("p", {
        className: "olw-intro-note",
        text:
          "Antwoorden worden automatisch gemaakt en kunnen fouten bevatten: controleer belangrijke zaken " +
          "bij de bron. Deel geen persoonlijke gegevens zoals je naam, adres of BSN.",
      }),
    ]);
    ui.messages = el("div", { className: "olw-messages" });
    ui.log = el("div", { className: "olw-log", role: "region", "aria-label": "Gesprek", tabindex: "0" }, [
      introBox,
      ui.messages,
    ]);

    ui.input = el("textarea", {
      id: inputId,
      className: "olw-input",
      rows: "1",
      maxlength: String(MAX_MESSAGE),
      autocomplete: "off",
      placeholder: "Typ je vraag…",
      "aria-describedby": UID + "-hint",
    });
    ui.send = el("button", { type: "submit", className: "olw-send", "aria-label": "Verstuur" }, [
      svgIcon(ICONS.send),
    ]);
    ui.form = el("form", { className: "olw-form", novalidate: true }, [
      el("label", { className: "olw-label", for: inputId, text: "Je vraag" }),
      el("div", { className: "olw-input-row" }, [ui.input, ui.send]),
      el("p", {
        className: "olw-hint",
        id: UID + "-hint",
        text: "Enter verstuurt, Shift+Enter maakt een nieuwe regel.",
      }),
    ]);

    ui.panel = el(
      "div",
      {
        className: "olw-panel",
        id: panelId,
        role: "dialog",
        "aria-modal": "true",
        "aria-labelledby": titleId,
        "aria-describedby": introId,
        hidden: true,
      },
      [header, ui.log, ui.form]
    );

    // Announces a complete answer once (never every token); lives outside the panel so it always exists.
    ui.live = el("div", { className: "olw-sr-only", "aria-live": "polite", "aria-atomic": "true" });

    ui.root.appendChild(ui.panel);
    ui.root.appendChild(ui.launcher);
    ui.root.appendChild(ui.live);
    document.body.appendChild(ui.root);

    ui.launcher.addEventListener("click", function () {
      if (isOpen()) close();
      else open();
    });
    ui.closeButton.addEventListener("click", function () {
      close();
    });
    ui.clearButton.addEventListener("click", clear);
    ui.form.addEventListener("submit", function (event) {
      event.preventDefault();
      submit();
    });
    ui.input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        submit();
      }
    });
    ui.input.addEventListener("input", autosize);
    ui.log.addEventListener("click", onLogClick);
    ["wheel", "touchmove", "keydown"].forEach(function (type) {
      ui.log.addEventListener(type, function () {
        follow = false;
      }, { passive: true });
    });
    document.addEventListener("keydown", onKeydown, true);

    applyProfile();
    renderAll();
    updateBusy();
  }

  function introText() {
    var intro = profile.intro || {};
    var lang = (document.documentElement.lang || "nl").slice(0, 2).toLowerCase();
    return intro[lang] || intro.nl || DEFAULT_PROFILE.intro.nl;
  }

  function applyProfile() {
    var theme = profile.theme || {};
    var primary = parseHex(theme.primary) || parseHex(DEFAULT_PROFILE.theme.primary);
    var onPrimary = parseHex(theme.on_primary) || [255, 255, 255];
    var accent = parseHex(theme.accent) || parseHex(DEFAULT_PROFILE.theme.accent);
    var white = [255, 255, 255];
    var ink = [26, 26, 26];
    if (contrast(primary, onPrimary) < 4.5) {
      onPrimary = contrast(primary, white) >= contrast(primary, ink) ? white : ink;
    }
    if (contrast(accent, ink) < 7) accent = [243, 244, 246];
    var hex = function (rgb) {
      return (
        "#" +
        rgb
          .map(function (v) {
            return (v < 16 ? "0" : "") + v.toString(16);
          })
          .join("")
      );
    };
    var style = ui.root.style;
    style.setProperty("--olw-primary", hex(primary));
    style.setProperty("--olw-on-primary", hex(onPrimary));
    style.setProperty("--olw-accent", hex(accent));
    // Links and focus rings sit on white or light grey: they need the primary colour to be dark enough.
    var linkOk = contrast(primary, [243, 244, 246]) >= 4.5;
    style.setProperty("--olw-link", linkOk ? hex(primary) : "#1d3c78");
    style.setProperty("--olw-focus", contrast(primary, white) >= 3 ? hex(primary) : "#1a1a1a");

    ui.title.textContent = profile.name || DEFAULT_PROFILE.name;
    ui.intro.textContent = introText();
    var logo = safeUrl(theme.logo || "");
    if (logo) {
      ui.logo.src = logo;
      ui.logo.hidden = false;
      ui.logo.onerror = function () {
        ui.logo.hidden = true;
      };
    } else {
      ui.logo.hidden = true;
    }
  }

  function isOpen() {
    return !ui.panel.hidden;
  }

  function open() {
    if (isOpen()) return;
    ui.panel.hidden = false;
    ui.root.classList.add("olw-open");
    ui.launcher.setAttribute("aria-expanded", "true");
    scrollToBottom();
    autosize();
    ui.input.focus();
  }

  function close() {
    if (!isOpen()) return;
    ui.panel.hidden = true;
    ui.root.classList.remove("olw-open");
    ui.launcher.setAttribute("aria-expanded", "false");
    ui.launcher.focus();
  }

  function focusables() {
    var nodes = ui.panel.querySelectorAll(
      "a[href], button:not([disabled]), textarea:not([disabled]), input:not([disabled]), select, " +
        '[tabindex]:not([tabindex="-1"])'
    );
    return Array.prototype.filter.call(nodes, function (node) {
      return node.getClientRects().length > 0 && !node.closest("[hidden]");
    });
  }

  function onKeydown(event) {
    if (!isOpen()) return;
    if (event.key === "Escape" || event.key === "Esc") {
      event.preventDefault();
      event.stopPropagation();
      close();
      return;
    }
    if (event.key !== "Tab") return;
    var items = focusables();
    if (!items.length) return;
    var first = items[0];
    var last = items[items.length - 1];
    var active = document.activeElement;
    if (!ui.panel.contains(active)) {
      event.preventDefault();
      (event.shiftKey ? last : first).focus();
    } else if (event.shiftKey && active === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && active === last) {
      event.preventDefault();
      first.focus();
    }
  }

  function autosize() {
    ui.input.style.height = "auto";
    ui.input.style.height = Math.min(ui.input.scrollHeight + 2, 140) + "px";
  }

  function scrollToBottom() {
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  // While an answer streams the log follows it, but never further than the question it answers: a long
  // answer is read from its start. Scrolling by hand (wheel, touch, keys) stops the following.
  var follow = false;

  function reveal(msg) {
    if (!follow) return;
    var node = messageNode(msg);
    if (!node) return;
    var question = node.previousElementSibling || node;
    var top = Math.max(0, question.offsetTop - 8);
    var bottom = ui.log.scrollHeight - ui.log.clientHeight;
    ui.log.scrollTop = Math.min(top, bottom);
  }

  function announce(text) {
    ui.live.textContent = "";
    window.setTimeout(function () {
      ui.live.textContent = text;
    }, 60);
  }

  function updateBusy() {
    // aria-disabled, not disabled: a focused button that becomes disabled would drop the keyboard focus.
    ui.send.setAttribute("aria-disabled", busy ? "true" : "false");
    ui.log.setAttribute("aria-busy", busy ? "true" : "false");
  }

  // A citation marker scrolls to its source card inside the log (without touching the host page's URL).
  function onLogClick(event) {
    var link = event.target.closest && event.target.closest("a.olw-cite");
    if (!link) return;
    var id = (link.getAttribute("href") || "").slice(1);
    var card = id && document.getElementById(id);
    if (!card) return;
    event.preventDefault();
    card.scrollIntoView({ block: "nearest" });
    card.classList.remove("olw-flash");
    void card.offsetWidth; // restart the highlight
    card.classList.add("olw-flash");
    card.focus({ preventScroll: true });
  }

  // ---------------------------------------------------------------------------------------------------
  // Rendering messages

  function renderAll() {
    ui.messages.textContent = "";
    state.messages.forEach(function (msg) {
      ui.messages.appendChild(renderMessage(msg));
    });
  }

  function renderMessage(msg) {
    var node;
    if (msg.role === "user") {
      node = el("div", { className: "olw-msg olw-msg--user", id: UID + "-" + msg.id }, [
        el("span", { className: "olw-sr-only", text: "Jij: " }),
        el("div", { className: "olw-bubble", text: msg.text }),
      ]);
      return node;
    }
    node = el("div", { className: "olw-msg olw-msg--assistant", id: UID + "-" + msg.id });
    updateAssistant(node, msg);
    return node;
  }

  function messageNode(msg) {
    return document.getElementById(UID + "-" + msg.id);
  }

  /** (Re)draws one assistant message: the answer text and, once done, sources, referrals and feedback. */
  function updateAssistant(node, msg) {
    node = node || messageNode(msg);
    if (!node) return;
    var classes = ["olw-msg", "olw-msg--assistant"];
    if (msg.status) classes.push("olw-status-" + msg.status.replace(/[^a-z_]/g, ""));
    if (msg.error) classes.push("olw-msg--error");
    if (msg.pending) classes.push("olw-msg--pending");
    node.className = classes.join(" ");
    if (msg.language) node.setAttribute("lang", msg.language === "en" ? "en" : "nl");

    var bubble = node.querySelector(".olw-bubble");
    if (!bubble) {
      node.appendChild(el("span", { className: "olw-sr-only", text: "Assistent: " }));
      bubble = el("div", { className: "olw-bubble" });
      node.appendChild(bubble);
    }
    if (msg.error) {
      bubble.textContent = "";
      bubble.appendChild(el("p", { text: msg.text }));
      if (msg.retry) {
        var retry = el("button", { type: "button", className: "olw-retry", text: "Probeer opnieuw" });
        retry.addEventListener("click", function () {
          retryMessage(msg);
        });
        bubble.appendChild(retry);
      }
    } else if (msg.pending && !msg.text) {
      bubble.textContent = "";
      bubble.appendChild(
        el("span", { className: "olw-typing" }, [
          el("span", { className: "olw-dot" }),
          el("span", { className: "olw-dot" }),
          el("span", { className: "olw-dot" }),
          el("span", { className: "olw-sr-only", text: "De assistent schrijft een antwoord…" }),
        ])
      );
    } else {
      var numbers = msg.done
        ? (msg.citations || []).map(function (c) {
            return c.n;
          })
        : null;
      // Safe: renderMarkdown escapes all text before it adds its own tags.
      bubble.innerHTML = renderMarkdown(msg.text, msg.id, numbers);
      if (msg.interrupted) {
        bubble.appendChild(el("p", { className: "olw-note", text: "(Dit antwoord is onderbroken.)" }));
      }
    }

    if (!msg.done || node.querySelector(".olw-extras")) return;
    var extras = el("div", { className: "olw-extras" });
    var sources = renderSources(msg);
    if (sources) extras.appendChild(sources);
    var referrals = renderReferrals(msg);
    if (referrals) extras.appendChild(referrals);
    if (!msg.error && msg.conversationId) extras.appendChild(renderFeedback(msg));
    node.appendChild(extras);
  }

  var COLLECTIONS = {
    article: "Artikel",
    faq: "Veelgestelde vraag",
    podcast_episode: "Podcast",
    testimonial: "Ervaringsverhaal",
  };

  function renderSources(msg) {
    var citations = (msg.citations || []).filter(function (c) {
      return c && typeof c.n === "number";
    });
    if (!citations.length) return null;
    var headingId = UID + "-src-" + msg.id;
    var list = el("ol", { className: "olw-source-list" });
    citations.forEach(function (c) {
      var href = safeUrl(c.url);
      var title = String(c.title || c.doc_id || "Bron");
      var titleNode = href
        ? el("a", { className: "olw-source-title", href: href, target: "_blank", rel: "noopener" }, [
            title,
            el("span", { className: "olw-sr-only", text: " (opent in een nieuw tabblad)" }),
          ])
        : el("span", { className: "olw-source-title", text: title });
      var section = String(c.section || "");
      if (section.indexOf(title + " > ") === 0) section = section.slice(title.length + 3);
      else if (section === title) section = "";
      var isPodcast = c.collection === "podcast_episode" && typeof c.start === "number";
      if (isPodcast && /^\d+:\d\d(?:-\d+:\d\d)?$/.test(section)) section = ""; // the listen link says it
      var card = el(
        "li",
        { className: "olw-source", id: "cite-" + msg.id + "-" + c.n, tabindex: "-1" },
        [
          el("span", { className: "olw-source-n", "aria-hidden": "true", text: String(c.n) }),
          el("div", { className: "olw-source-body" }, [
            el("span", { className: "olw-sr-only", text: "Bron " + c.n + ": " }),
            titleNode,
            section ? el("span", { className: "olw-source-section", text: section }) : null,
            isPodcast && href
              ? el("a", { className: "olw-source-listen", href: href, target: "_blank", rel: "noopener" }, [
                  "luister vanaf " + clock(c.start),
                  el("span", { className: "olw-sr-only", text: " (opent in een nieuw tabblad)" }),
                ])
              : null,
            COLLECTIONS[c.collection]
              ? el("span", { className: "olw-source-kind", text: COLLECTIONS[c.collection] })
              : null,
          ]),
        ]
      );
      list.appendChild(card);
    });
    return el("section", { className: "olw-sources", "aria-labelledby": headingId }, [
      el("h3", { className: "olw-sources-heading", id: headingId, text: "Bronnen" }),
      list,
    ]);
  }

  function renderReferrals(msg) {
    var referrals = (msg.referrals || []).filter(function (r) {
      return r && r.label && safeUrl(r.url, true);
    });
    if (!referrals.length) return null;
    return el(
      "div",
      { className: "olw-referrals" },
      referrals.map(function (r) {
        var kind = String(r.kind || "").replace(/[^a-z_-]/gi, "");
        return el(
          "a",
          {
            className: "olw-referral olw-referral--" + kind,
            href: safeUrl(r.url, true),
            target: "_blank",
            rel: "noopener",
          },
          [String(r.label), el("span", { className: "olw-sr-only", text: " (opent in een nieuw tabblad)" })]
        );
      })
    );
  }

  function renderFeedback(msg) {
    var fb = msg.feedback || {};
    var commentId = UID + "-fb-" + msg.id;
    var up = el("button", {
      type: "button",
      className: "olw-thumb olw-thumb--up",
      "aria-label": "Nuttig antwoord",
      title: "Nuttig antwoord",
      "aria-pressed": fb.rating === "up" ? "true" : "false",
    });
    up.appendChild(svgIcon(ICONS.up, 18));
    var down = el("button", {
      type: "button",
      className: "olw-thumb olw-thumb--down",
      "aria-label": "Niet nuttig antwoord",
      title: "Niet nuttig antwoord",
      "aria-pressed": fb.rating === "down" ? "true" : "false",
    });
    down.appendChild(svgIcon(ICONS.thumbDown, 18));
    var status = el("p", { className: "olw-feedback-status", role: "status" });
    if (fb.rating) status.textContent = fb.commented ? THANKS_COMMENT : THANKS;
    var comment = el("textarea", {
      id: commentId,
      className: "olw-comment",
      rows: "2",
      maxlength: String(MAX_COMMENT),
    });
    var submit = el("button", {
      type: "submit",
      className: "olw-comment-send",
      text: "Verstuur toelichting",
    });
    var form = el("form", {
      className: "olw-feedback-form",
      hidden: !fb.rating || fb.commented,
      novalidate: true,
    }, [
      el("label", { for: commentId, text: "Wil je nog iets toelichten? (optioneel)" }),
      comment,
      submit,
    ]);
    var group = el("div", { className: "olw-feedback" }, [
      el("div", { className: "olw-thumbs", role: "group", "aria-label": "Was dit antwoord nuttig?" }, [
        el("span", { className: "olw-thumbs-label", "aria-hidden": "true", text: "Nuttig?" }),
        up,
        down,
      ]),
      status,
      form,
    ]);

    function choose(rating) {
      var previous = (msg.feedback || {}).rating;
      if (previous === rating) return;
      msg.feedback = { rating: rating, commented: false };
      up.setAttribute("aria-pressed", rating === "up" ? "true" : "false");
      down.setAttribute("aria-pressed", rating === "down" ? "true" : "false");
      // The rating is sent right away so it is never lost; a comment follows as a second row with the
      // same rating (there is no update endpoint): the latest row per (conversation, message_index) counts.
      sendFeedback(msg, rating, null).then(
        function () {
          status.textContent = THANKS;
          form.hidden = false;
          save();
        },
        function () {
          msg.feedback = previous ? { rating: previous } : null;
          up.setAttribute("aria-pressed", previous === "up" ? "true" : "false");
          down.setAttribute("aria-pressed", previous === "down" ? "true" : "false");
          status.textContent = "Je feedback kon niet worden verstuurd. Probeer het later opnieuw.";
        }
      );
    }

    up.addEventListener("click", function () {
      choose("up");
    });
    down.addEventListener("click", function () {
      choose("down");
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = comment.value.trim().slice(0, MAX_COMMENT);
      if (!text || !msg.feedback) {
        comment.focus();
        return;
      }
      submit.disabled = true;
      sendFeedback(msg, msg.feedback.rating, text).then(
        function () {
          msg.feedback.commented = true;
          form.hidden = true;
          status.textContent = THANKS_COMMENT;
          save();
          status.setAttribute("tabindex", "-1");
          status.focus(); // the form is gone: keep the keyboard user in a sensible place
        },
        function () {
          submit.disabled = false;
          status.textContent = "Je toelichting kon niet worden verstuurd. Probeer het later opnieuw.";
        }
      );
    });
    return group;
  }

  function sendFeedback(msg, rating, comment) {
    var body = { conversation_id: msg.conversationId, message_index: msg.index || 0, rating: rating };
    if (comment) body.comment = comment;
    return fetch(api("/v1/feedback"), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit",
    }).then(function (res) {
      if (!res.ok) throw new Error("feedback " + res.status);
      return res.json();
    });
  }

  // ---------------------------------------------------------------------------------------------------
  // Sending and streaming

  function submit() {
    var text = ui.input.value.trim();
    if (!text || busy) return;
    ui.input.value = "";
    autosize();
    var user = { id: newId(), role: "user", text: text.slice(0, MAX_MESSAGE) };
    state.messages.push(user);
    ui.messages.appendChild(renderMessage(user));
    save();
    ask(user.text);
  }

  function retryMessage(errorMsg) {
    if (busy) return;
    var i = state.messages.indexOf(errorMsg);
    var question = null;
    for (var j = i - 1; j >= 0; j--) {
      if (state.messages[j].role === "user") {
        question = state.messages[j].text;
        break;
      }
    }
    if (i !== -1) state.messages.splice(i, 1);
    var node = messageNode(errorMsg);
    if (node) node.parentNode.removeChild(node);
    if (question) ask(question);
    ui.input.focus();
  }

  function friendlyError(status, body) {
    var code = (body && body.error) || "";
    if (status === 422 || status === 400)
      return "Je bericht kon niet worden verwerkt. Is het misschien langer dan 2000 tekens?";
    if (status === 429) return "Het is even erg druk. Wacht een minuutje en probeer het dan opnieuw.";
    if (code === "unknown_profile" || code === "origin_not_allowed" || status === 403)
      return (
        "Deze chat is op deze website nog niet goed ingesteld. " +
        "Probeer het later opnieuw of ga naar onderwijsloket.com."
      );
    if (status === 503) {
      return "De assistent is zo weer beschikbaar. Probeer het over een paar minuten opnieuw.";
    }
    return "Sorry, er ging iets mis bij het maken van een antwoord. Probeer het later nog eens.";
  }


  function ask(question) {
    var msg = { id: newId(), role: "assistant", text: "", pending: true, citations: [], referrals: [] };
    state.messages.push(msg);
    ui.messages.appendChild(renderMessage(msg));
    follow = true;
    reveal(msg);
    busy = true;
    updateBusy();
    var mine = new AbortController();
    controller = mine;

    stream(question, msg, mine, false)
      .then(function (outcome) {
        if (outcome === "aborted") return;
        if (outcome !== "done" && !msg.text) throw { friendly: friendlyError(500, null) };
        if (outcome !== "done") msg.interrupted = true;
        finish(msg);
      })
      .catch(function (err) {
        if (mine.signal.aborted) return;
        if (msg.text && !(err && err.friendly)) {
          msg.interrupted = true; // the connection broke half way: keep what we have
          finish(msg);
          return;
        }
        msg.pending = false;
        msg.error = true;
        msg.retry = true;
        msg.text = (err && err.friendly) || NETWORK_ERROR;
        updateAssistant(null, msg);
        announce(msg.text);
        reveal(msg);
      })
      .then(function () {
        if (controller === mine) {
          controller = null;
          busy = false;
          updateBusy();
        }
      });
  }

  function finish(msg) {
    msg.pending = false;
    if (!msg.conversationId) msg.conversationId = state.conversationId;
    msg.index = nextAnswerIndex(msg.conversationId); // before done: this answer does not count itself
    msg.done = true;
    updateAssistant(null, msg);
    save();
    reveal(msg);
    var text = plainText(msg.text);
    if (text.length > 200) text = text.slice(0, 200).replace(/\s+\S*$/, "") + "…";
    announce("Antwoord ontvangen: " + text);
  }

  /**
   * POSTs the question and reads the SSE answer into msg. Resolves with "done", "ended" (no done event)
   * or "aborted"; rejects with {friendly: "..."} or a network error.
   */
  function stream(question, msg, abort, retried) {
    return fetch(api("/v1/chat/stream"), {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify({
        message: question,
        conversation_id: state.conversationId,
        profile: PROFILE,
        channel: "widget",
      }),
      credentials: "omit",
      signal: abort.signal,
    }).then(function (res) {
      if (!res.ok) {
        return res
          .json()
          .catch(function () {
            return null;
          })
          .then(function (body) {
            if (res.status === 404 && body && body.error === "unknown_conversation" && !retried) {
              state.conversationId = null; // the server forgot us (restart, expiry): start a new conversation
              return stream(question, msg, abort, true);
            }
            throw { friendly: friendlyError(res.status, body) };
          });
      }
      var outcome = "ended";
      var scheduled = false;
      var redraw = function () {
        scheduled = false;
        updateAssistant(null, msg);
        reveal(msg);
      };
      var parser = new SseParser(function (type, data) {
        var payload;
        try {
          payload = JSON.parse(data);
        } catch (e) {
          return;
        }
        if (payload === null || typeof payload !== "object") payload = {};
        if (type === "meta") {
          if (payload.conversation_id) {
            state.conversationId = payload.conversation_id;
            msg.conversationId = payload.conversation_id;
          }
          if (payload.language) msg.language = payload.language;
        } else if (type === "delta") {
          msg.text += (payload && payload.text) || "";
          if (!scheduled) {
            scheduled = true;
            window.requestAnimationFrame(redraw);
          }
        } else if (type === "citations") {
          msg.citations = Array.isArray(payload) ? payload : [];
        } else if (type === "referrals") {
          msg.referrals = Array.isArray(payload) ? payload : [];
        } else if (type === "done") {
          msg.status = (payload && payload.status) || "answered";
          msg.reason = (payload && payload.reason) || null;
          outcome = "done";
        } else if (type === "error") {
          throw { friendly: friendlyError(500, payload) };
        }
      });
      if (!res.body || !res.body.getReader) {
        return res.text().then(function (text) {
          parser.push(text, true);
          return outcome;
        });
      }
      var reader = res.body.getReader();
      var decoder = new TextDecoder("utf-8");
      var pump = function () {
        return reader.read().then(function (step) {
          if (step.done) {
            parser.push(decoder.decode(), true);
            return outcome;
          }
          parser.push(decoder.decode(step.value, { stream: true }), false);
          if (outcome === "done") {
            reader.cancel().catch(function () {});
            return outcome;
          }
          return pump();
        });
      };
      return pump();
    }, function (err) {
      if (abort.signal.aborted) return "aborted";
      throw err;
    });
  }

  function clear() {
    if (controller) {
      controller.abort();
      controller = null;
    }
    busy = false;
    state = { conversationId: null, messages: [] };
    forget();
    renderAll();
    updateBusy();
    ui.input.value = "";
    autosize();
    ui.input.focus();
    announce("Het gesprek is gewist.");
  }

  // ---------------------------------------------------------------------------------------------------
  // Start: stylesheet and profile in parallel, then the DOM (so nothing shows unstyled)

  function loadCss() {
    return new Promise(function (resolve) {
      var href = api("/widget.css");
      var existing = document.querySelector('link[data-olw-css]');
      if (existing) return resolve();
      var link = el("link", { rel: "stylesheet", href: href, "data-olw-css": "" });
      var done = function () {
        resolve();
      };
      link.addEventListener("load", done);
      link.addEventListener("error", done);
      window.setTimeout(done, 4000);
      (document.head || document.documentElement).appendChild(link);
    });
  }

  function loadProfile() {
    return fetch(api("/v1/profiles/" + encodeURIComponent(PROFILE)), { credentials: "omit" })
      .then(function (res) {
        if (!res.ok) {
          if (window.console) {
            console.warn("Onderwijsloket widget: profile " + PROFILE + " gave HTTP " + res.status);
          }
          return null;
        }
        return res.json();
      })
      .then(function (body) {
        if (body && typeof body === "object") {
          profile = {
            id: body.id || PROFILE,
            name: body.name || DEFAULT_PROFILE.name,
            theme: body.theme || DEFAULT_PROFILE.theme,
            intro: body.intro || DEFAULT_PROFILE.intro,
          };
        }
      })
      .catch(function () {
        /* offline: defaults; sending will show a friendly error */
      });
  }

  function start() {
    load();
    Promise.all([loadCss(), loadProfile()]).then(function () {
      build();
      ui.root.setAttribute("data-ready", "true");
    });
  }

  window.OnderwijsloketWidget = {
    version: VERSION,
    profile: PROFILE,
    open: function () {
      if (ui.panel) open();
    },
    close: function () {
      if (ui.panel) close();
    },
    clear: function () {
      if (ui.panel) clear();
    },
    renderMarkdown: renderMarkdown,
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
