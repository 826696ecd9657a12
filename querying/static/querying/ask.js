/* The ask page. Posts the question to the SSE endpoint with fetch, reads the body as a stream and
   parses the events itself (EventSource cannot POST), then renders tokens, sources and errors.
   Everything that came from the model or from a document is inserted as text, never as HTML. */
(function () {
  "use strict";

  // ---------------------------------------------------------------- SSE parsing

  /* Returns {push(text), end()}; calls onEvent(payload, id) for each event whose data is a JSON
     object. Copes with events split anywhere across network chunks, \n, \r\n or \r line endings,
     comment (heartbeat) lines, multi-line data and fields it does not know. */
  function createSseParser(onEvent) {
    var buffer = "";
    var dataLines = [];
    var lastId = null;
    var started = false;

    function dispatch() {
      if (!dataLines.length) return;
      var data = dataLines.join("\n");
      dataLines = [];
      var payload;
      try {
        payload = JSON.parse(data);
      } catch (err) {
        return; // not an event of this contract: skip it rather than break the answer
      }
      if (payload && typeof payload === "object" && !Array.isArray(payload)) onEvent(payload, lastId);
    }

    function line(text) {
      if (text === "") return dispatch();
      if (text.charAt(0) === ":") return; // heartbeat
      var colon = text.indexOf(":");
      var field = colon === -1 ? text : text.slice(0, colon);
      var value = colon === -1 ? "" : text.slice(colon + 1);
      if (value.charAt(0) === " ") value = value.slice(1);
      if (field === "data") dataLines.push(value);
      else if (field === "id") lastId = value;
      // "event", "retry" and anything else: nothing this page needs
    }

    return {
      push: function (text) {
        if (!started && text) {
          started = true;
          if (text.charAt(0) === "\uFEFF") text = text.slice(1);
        }
        buffer += text;
        var start = 0;
        for (;;) {
          var cr = buffer.indexOf("\r", start);
          var lf = buffer.indexOf("\n", start);
          var end, next;
          if (cr === -1 && lf === -1) break;
          if (cr !== -1 && (lf === -1 || cr < lf)) {
            if (cr === buffer.length - 1) break; // may be the first half of a \r\n split across chunks
            end = cr;
            next = buffer.charAt(cr + 1) === "\n" ? cr + 2 : cr + 1;
          } else {
            end = lf;
            next = lf + 1;
          }
          line(buffer.slice(start, end));
          start = next;
        }
        buffer = buffer.slice(start);
      },
      end: function () {
        var rest = buffer.replace(/\r$/, "");
        buffer = "";
        if (rest) line(rest);
        dispatch(); // lenient: an event the server did not end with a blank line still counts
      },
    };
  }

  async function readEventStream(response, onEvent) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var parser = createSseParser(onEvent);
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) break;
      parser.push(decoder.decode(chunk.value, { stream: true }));
    }
    parser.push(decoder.decode());
    parser.end();
  }

  // ---------------------------------------------------------------- text helpers

  /* Appends `text` to `parent` as text nodes, with the [start, end) character `spans` (the
     server's matches of the question's search terms, in order) wrapped in <mark>. */
  function appendHighlighted(parent, text, spans) {
    text = String(text);
    var last = 0;
    (Array.isArray(spans) ? spans : []).forEach(function (span) {
      var start = Array.isArray(span) ? span[0] : NaN;
      var end = Array.isArray(span) ? span[1] : NaN;
      if (!Number.isInteger(start) || !Number.isInteger(end) || start < last || end <= start || end > text.length) return;
      if (start > last) parent.appendChild(document.createTextNode(text.slice(last, start)));
      var mark = document.createElement("mark");
      mark.textContent = text.slice(start, end);
      parent.appendChild(mark);
      last = end;
    });
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  var CITATION = /\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]/g;

  /* Renders the answer into `parent`: text nodes, with its citations turned into links to the
     sources. `citations` (from the sources event, or a stored message) lists which "[n]" and
     "[n, m]" marks are citations, by their place among the marks: a document's own footnote mark
     that the answer quotes ("ICC[1]") is none and stays text. Without it (while the answer
     streams, or from a server that does not say) every mark is taken for one; once the sources
     are known (`sourceNumbers`, a Set, not null), a mark that points at no source is text. */
  function renderAnswer(parent, text, sourceNumbers, sourceIdPrefix, citations) {
    var prefix = sourceIdPrefix || "source-";
    var cites = Array.isArray(citations) ? new Set(citations) : null;
    var fragment = document.createDocumentFragment();
    var last = 0;
    var place = -1;
    var match;
    CITATION.lastIndex = 0;
    while ((match = CITATION.exec(text)) !== null) {
      place += 1;
      var numbers = match[1].split(",").map(function (n) {
        return parseInt(n, 10);
      });
      var linkable = (!cites || cites.has(place)) && numbers.every(function (n) {
        return n >= 1 && (!sourceNumbers || sourceNumbers.has(n));
      });
      if (!linkable) continue;
      if (match.index > last) fragment.appendChild(document.createTextNode(text.slice(last, match.index)));
      var cite = document.createElement("span");
      cite.className = "cite";
      cite.appendChild(document.createTextNode("["));
      numbers.forEach(function (n, i) {
        if (i) cite.appendChild(document.createTextNode(", "));
        var link = document.createElement("a");
        link.href = "#" + prefix + n;
        link.textContent = String(n);
        link.setAttribute("aria-label", "source " + n);
        cite.appendChild(link);
      });
      cite.appendChild(document.createTextNode("]"));
      fragment.appendChild(cite);
      last = match.index + match[0].length;
    }
    if (last < text.length) fragment.appendChild(document.createTextNode(text.slice(last)));
    parent.replaceChildren(fragment);
  }

  /* Only http(s) links, so a hostile "javascript:" URL in a source cannot run. */
  function safeUrl(url) {
    if (typeof url !== "string" || !url) return null;
    try {
      var parsed = new URL(url, window.location.href);
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
    } catch (err) {
      return null;
    }
  }

  /* One source as a list item: number, title, page (or section), passage with the search terms
     marked, and a link to the PDF at the page (or the document at the section); a source whose
     document has been deleted since ("removed") says so and links nowhere. `idPrefix` + n is its
     element id, what citations link to. */
  function sourceItem(source, index, idPrefix) {
    source = source && typeof source === "object" ? source : {};
    // "n" is the number the answer cites this passage by; the position is the fallback
    var n = Number.isInteger(source.n) && source.n > 0 ? source.n : index + 1;
    var item = document.createElement("li");
    item.className = "source";
    item.id = idPrefix + n;
    item.sourceNumber = n;
    item.tabIndex = -1;

    var head = document.createElement("div");
    head.className = "source-head";
    var number = document.createElement("span");
    number.className = "source-number";
    number.textContent = String(n);
    var title = document.createElement("span");
    title.className = "source-title";
    title.textContent = source.title ? String(source.title) : "Document " + source.document_id;
    head.append(number, title);
    if (source.page != null) {
      var page = document.createElement("span");
      page.className = "source-page";
      page.textContent = "page " + source.page;
      head.append(page);
    } else if (typeof source.section === "string" && source.section) {
      // a Word, HTML, Markdown or text passage is cited by its section's heading path
      var section = document.createElement("span");
      section.className = "source-page source-section";
      section.textContent = "§ " + source.section;
      head.append(section);
    }
    if (source.ocr === true) {
      var ocr = document.createElement("span");
      ocr.className = "source-ocr";
      ocr.title = "this passage was read from a scanned page by OCR: words may be misread";
      ocr.textContent = "OCR";
      head.append(ocr);
    }
    if (typeof source.score === "number" && isFinite(source.score)) {
      var score = document.createElement("span");
      score.className = "source-score";
      score.title = "retrieval score";
      score.textContent = "score " + source.score.toFixed(3);
      head.append(score);
    }
    item.append(head);

    var passage = document.createElement("blockquote");
    passage.className = "passage";
    appendHighlighted(passage, source.text == null ? "" : source.text, source.highlights);
    item.append(passage);

    if (source.removed === true) {
      var removed = document.createElement("span");
      removed.className = "source-removed";
      removed.textContent = "document removed";
      head.append(removed);
      item.classList.add("is-removed");
    }
    var url = source.removed === true ? null : safeUrl(source.url);
    if (url) {
      var link = document.createElement("a");
      link.className = "pdf-link";
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener";
      link.textContent = source.page != null ? "Open the PDF at page " + source.page
        : source.section != null ? (source.section ? "Open the document at this section" : "Open the document")
        : "Open the PDF";
      var hint = document.createElement("span");
      hint.className = "visually-hidden";
      hint.textContent = " (opens in a new tab)";
      link.append(hint);
      item.append(link);
    }
    return item;
  }

  var FIELD_LABELS = { question: "Question", top_k: "Passages", document_ids: "Documents", collections: "Collections" };

  function collectMessages(value, out) {
    if (typeof value === "string") out.push(value);
    else if (Array.isArray(value)) value.forEach(function (v) { collectMessages(v, out); });
    else if (value && typeof value === "object") {
      Object.keys(value).forEach(function (key) {
        collectMessages(value[key], out);
      });
    }
    return out;
  }

  /* A sentence from a DRF-style error body: {"detail": "..."} or {"field": ["...", ...], ...}. */
  function readableErrors(body) {
    if (!body || typeof body !== "object" || Array.isArray(body)) return "";
    if (typeof body.detail === "string") return body.detail;
    if (body.error && typeof body.error.message === "string") return body.error.message;
    var parts = [];
    Object.keys(body).forEach(function (field) {
      var messages = collectMessages(body[field], []);
      if (!messages.length) return;
      var label = field === "non_field_errors" ? "" : FIELD_LABELS[field] || field.replace(/_/g, " ");
      parts.push((label ? label.charAt(0).toUpperCase() + label.slice(1) + ": " : "") + messages.join(" "));
    });
    return parts.join(" ");
  }

  async function responseErrorMessage(response) {
    var body = null;
    if ((response.headers.get("Content-Type") || "").indexOf("json") !== -1) {
      try {
        body = await response.json();
      } catch (err) {
        body = null;
      }
    }
    var message = readableErrors(body);
    if (message) return message;
    var status = response.status;
    if (status === 403) {
      return "The server refused the question (403). Your session may have expired: reload the page and ask again.";
    }
    if (status === 429) return "Too many questions at once. Wait a moment and ask again.";
    if (status >= 500) return "The server had a problem (" + status + "). Try again in a moment.";
    return "The question could not be asked (" + status + ").";
  }

  // ---------------------------------------------------------------- the page

  var STATE_LABELS = {
    retrieving: "Retrieving passages…",
    answering: "Answering…",
    done: "Done",
    stopped: "Stopped",
    error: "Error",
  };

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta && meta.content) return meta.content;
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function initPage() {
    var form = document.getElementById("ask-form");
    if (!form) return;
    var el = function (id) {
      return document.getElementById(id);
    };
    var question = el("question");
    var stopButton = el("stop-button");
    var formMessage = el("form-message");
    var topK = el("top-k");
    var section = el("answer-section");
    var state = el("answer-state");
    var answerQuestion = el("answer-question");
    var answerText = el("answer-text");
    var answerError = el("answer-error");
    var answerNotice = el("answer-notice");
    var mode = el("answer-mode");
    var timing = el("answer-timing");
    var sources = el("sources");
    var sourcesHeading = el("sources-heading");
    var sourceList = el("source-list");
    var filterSummary = el("doc-filter-summary");
    var searchLine = el("answer-search");
    var searchText = el("answer-search-text");
    var thread = el("thread");
    var threadList = el("thread-list");
    var newConversation = el("new-conversation");
    var past = el("past-conversations");
    var pastList = el("past-conversations-list");
    var conversationsUrl = form.dataset.conversationsUrl;
    var current = null;
    // The conversation the next question continues: in the URL (?c=<id>), so a reload or a
    // shared link restores the thread.
    var conversationId = null;
    var turnCount = 0;

    function conversationFromUrl() {
      var value = new URLSearchParams(window.location.search).get("c") || "";
      return /^[1-9][0-9]{0,17}$/.test(value) ? parseInt(value, 10) : null;
    }

    function setConversation(id) {
      conversationId = id;
      var url = new URL(window.location.href);
      if (id) url.searchParams.set("c", String(id));
      else url.searchParams.delete("c");
      window.history.replaceState(null, "", url.href);
    }

    function showSearch(element, textElement, asked, searched) {
      var differs = typeof searched === "string" && searched && searched !== asked;
      textElement.textContent = differs ? searched : "";
      element.hidden = !differs;
    }

    /* An earlier turn of the conversation, above the current answer: its question, its answer
       with citations linking to its own sources, what was searched, and the sources. */
    function appendTurn(message) {
      turnCount += 1;
      var prefix = "turn-" + turnCount + "-source-";
      var article = document.createElement("article");
      article.className = "turn";
      var asked = document.createElement("p");
      asked.className = "turn-question";
      asked.textContent = String(message.question || "");
      var answer = document.createElement("div");
      answer.className = "turn-answer";
      var items = Array.isArray(message.sources) ? message.sources : [];
      var list = document.createElement("ol");
      list.className = "source-list";
      var numbers = new Set();
      items.forEach(function (source, index) {
        var item = sourceItem(source, index, prefix);
        numbers.add(item.sourceNumber);
        list.append(item);
      });
      renderAnswer(answer, String(message.answer || ""), numbers, prefix, message.citations);
      article.append(asked, answer);
      var searched = document.createElement("p");
      searched.className = "answer-search";
      searched.append(document.createTextNode("Searched for: "));
      var searchedText = document.createElement("q");
      searched.append(searchedText);
      showSearch(searched, searchedText, message.question, message.search_query);
      article.append(searched);
      if (items.length) {
        var details = document.createElement("details");
        details.className = "turn-sources";
        var summary = document.createElement("summary");
        summary.textContent = (message.not_found ? "Closest passages" : "Sources") + " (" + items.length + ")";
        details.append(summary, list);
        article.append(details);
      }
      threadList.append(article);
      thread.hidden = false;
    }

    async function refreshPast() {
      if (!conversationsUrl) return;
      var body;
      try {
        var response = await fetch(conversationsUrl + "?limit=30", { credentials: "same-origin", cache: "no-store" });
        if (!response.ok) return;
        body = await response.json();
      } catch (err) {
        return; // the list is a convenience: the page works without it
      }
      var results = body && Array.isArray(body.results) ? body.results : [];
      var fragment = document.createDocumentFragment();
      results.forEach(function (conversation) {
        if (!conversation || !Number.isInteger(conversation.id)) return;
        var item = document.createElement("li");
        var link = document.createElement("a");
        link.href = "?c=" + conversation.id;
        link.textContent = conversation.title ? String(conversation.title) : "Untitled conversation";
        if (conversation.id === conversationId) link.setAttribute("aria-current", "true");
        item.append(link);
        fragment.append(item);
      });
      pastList.replaceChildren(fragment);
      past.hidden = results.length === 0;
    }

    async function restore(id) {
      var response;
      try {
        response = await fetch(conversationsUrl + id + "/", { credentials: "same-origin", cache: "no-store" });
      } catch (err) {
        formMessage.textContent = "Could not load the conversation. Check the connection and reload.";
        return;
      }
      if (!response.ok) {
        setConversation(null);
        formMessage.textContent = "That conversation is not available (deleted, or not yours): a new one starts.";
        return;
      }
      var body = await response.json();
      (Array.isArray(body.messages) ? body.messages : []).forEach(appendTurn);
      setConversation(id);
      refreshPast();
    }

    function startOver() {
      if (current && !current.finished) stop();
      current = null;
      turnCount = 0;
      threadList.replaceChildren();
      thread.hidden = true;
      section.hidden = true;
      formMessage.textContent = "";
      setConversation(null);
      refreshPast();
      question.focus();
    }

    function checkedDocumentIds() {
      return Array.from(form.querySelectorAll('input[name="document_ids"]:checked')).map(function (box) {
        return parseInt(box.value, 10);
      });
    }

    function updateFilterSummary() {
      var boxes = form.querySelectorAll('input[name="document_ids"]');
      var checked = checkedDocumentIds().length;
      filterSummary.textContent = checked ? checked + " of " + boxes.length : "all " + boxes.length;
    }

    function setState(run, name) {
      run.state = name;
      state.dataset.state = name;
      state.textContent = STATE_LABELS[name] || "";
    }

    function setBusy(busy) {
      // a disabled button drops the focus: hand it to the question box rather than to <body>
      var stopHadFocus = document.activeElement === stopButton;
      form.classList.toggle("is-busy", busy);
      stopButton.disabled = !busy;
      answerText.setAttribute("aria-busy", busy ? "true" : "false");
      if (!busy && (stopHadFocus || document.activeElement === document.body)) question.focus({ preventScroll: true });
    }

    function finish(run, stateName, message) {
      if (run !== current || run.finished) return;
      run.finished = true;
      if (stateName) setState(run, stateName);
      if (message) {
        // stopping is the user's choice, not a failure: it gets a neutral notice, not an alert
        var box = stateName === "stopped" ? answerNotice : answerError;
        box.textContent = message;
        box.hidden = false;
      }
      timing.textContent = " · " + ((performance.now() - run.startedAt) / 1000).toFixed(1) + " s";
      setBusy(false);
    }

    function render(run) {
      renderAnswer(answerText, run.text, run.sourceNumbers, "source-", run.citations);
    }

    function renderSources(run, items, notFound, citations) {
      // When the answer says the documents do not hold it, the passages are only the closest
      // ones search found: they are labelled so, not presented as the answer's sources.
      sourcesHeading.textContent = notFound ? "Closest passages (none of them answers the question)" : "Sources";
      var numbers = new Set();
      var fragment = document.createDocumentFragment();
      items.forEach(function (source, index) {
        var item = sourceItem(source, index, "source-");
        numbers.add(item.sourceNumber);
        fragment.append(item);
      });
      sourceList.replaceChildren(fragment);
      sources.hidden = items.length === 0;
      run.sources = items;
      run.notFound = notFound;
      run.sourceNumbers = numbers;
      run.citations = Array.isArray(citations) ? citations : null;
      render(run);
    }

    function handleEvent(run, payload) {
      if (run !== current || run.finished) return;
      if (Number.isInteger(payload.conversation_id)) setConversation(payload.conversation_id);
      if (payload.meta && typeof payload.meta === "object") {
        run.searchQuery = payload.meta.search_query;
        showSearch(searchLine, searchText, run.question, payload.meta.search_query);
        if (payload.meta.mode) {
          mode.textContent = String(payload.meta.mode) + (payload.meta.reranked ? " · reranked" : "");
        }
        if (run.state === "retrieving") setState(run, "answering");
      }
      if (typeof payload.token === "string") {
        if (run.state === "retrieving") setState(run, "answering");
        run.text += payload.token;
        render(run);
      }
      if (Array.isArray(payload.sources)) {
        renderSources(run, payload.sources, payload.not_found === true, payload.citations);
      }
      if (payload.error) {
        var message = payload.error && typeof payload.error.message === "string" && payload.error.message;
        run.failed = true;
        setState(run, "error");
        answerError.textContent = message || "The answer could not be finished.";
        answerError.hidden = false;
      }
      if (payload.done) {
        finish(run, run.failed ? "error" : "done");
        refreshPast();
      }
    }

    function stop() {
      var run = current;
      if (!run || run.finished) return;
      run.stopped = true;
      run.controller.abort();
      finish(run, "stopped", run.text ? "Stopped. The answer above is incomplete." : "Stopped before an answer came.");
    }

    async function ask() {
      var text = question.value.trim();
      formMessage.textContent = "";
      if (!text) {
        formMessage.textContent = "Type a question first.";
        question.focus();
        return;
      }
      if (current && !current.finished) stop();
      // The answer shown so far joins the thread above; the new one takes its place.
      if (current && (current.text || current.sources)) {
        appendTurn({ question: current.question, answer: current.text, sources: current.sources,
                     citations: current.citations,
                     search_query: current.searchQuery, not_found: current.notFound });
      }

      var run = {
        question: text,
        text: "",
        sourceNumbers: null,
        state: "",
        finished: false,
        failed: false,
        stopped: false,
        controller: new AbortController(),
        startedAt: performance.now(),
      };
      current = run;

      section.hidden = false;
      answerQuestion.textContent = text;
      answerText.replaceChildren();
      answerError.hidden = true;
      answerError.textContent = "";
      answerNotice.hidden = true;
      answerNotice.textContent = "";
      sourceList.replaceChildren();
      sources.hidden = true;
      searchLine.hidden = true;
      mode.textContent = mode.dataset.configured;
      timing.textContent = "";
      setState(run, "retrieving");
      setBusy(true);

      var body = { question: text };
      var k = parseInt(topK.value, 10);
      if (k >= 1) body.top_k = k;
      var ids = checkedDocumentIds();
      if (ids.length) body.document_ids = ids;
      var picker = el("collections");
      var chosen = picker ? Array.from(picker.selectedOptions).map(function (option) { return option.value; }) : [];
      if (chosen.length) body.collections = chosen;
      if (conversationId) body.conversation_id = conversationId;

      var response;
      try {
        response = await fetch(form.dataset.streamUrl, {
          method: "POST",
          headers: { "Content-Type": "application/json", Accept: "text/event-stream", "X-CSRFToken": csrfToken() },
          body: JSON.stringify(body),
          credentials: "same-origin",
          cache: "no-store",
          signal: run.controller.signal,
        });
      } catch (err) {
        if (!run.stopped) finish(run, "error", "Could not reach the server. Check the connection and ask again.");
        return;
      }
      if (!response.ok) {
        var message = await responseErrorMessage(response);
        finish(run, "error", message);
        return;
      }
      if ((response.headers.get("Content-Type") || "").indexOf("text/event-stream") === -1 || !response.body) {
        finish(run, "error", "The server sent a reply this page cannot read. Try again in a moment.");
        return;
      }
      try {
        await readEventStream(response, function (payload) {
          handleEvent(run, payload);
        });
      } catch (err) {
        if (!run.stopped) {
          finish(run, "error", "The connection was lost before the answer was finished. Ask again to retry.");
        }
        return;
      }
      if (!run.finished) {
        finish(run, "error", "The connection closed before the answer was finished. Ask again to retry.");
      }
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      ask();
    });
    question.addEventListener("keydown", function (event) {
      var modified = event.shiftKey || event.ctrlKey || event.altKey || event.metaKey;
      if (event.key === "Enter" && !modified && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    question.addEventListener("input", function () {
      formMessage.textContent = "";
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && current && !current.finished) {
        event.preventDefault();
        stop();
      }
    });
    stopButton.addEventListener("click", stop);
    newConversation.addEventListener("click", startOver);
    var restoring = conversationFromUrl();
    if (restoring) restore(restoring);
    else refreshPast();
    form.addEventListener("change", function (event) {
      if (event.target.name === "document_ids") updateFilterSummary();
    });
    var find = el("doc-find");
    if (find) {
      find.addEventListener("input", function () {
        var needle = find.value.trim().toLowerCase();
        form.querySelectorAll(".doc-list li").forEach(function (item) {
          item.hidden = needle !== "" && item.textContent.toLowerCase().indexOf(needle) === -1;
        });
      });
      // Enter in the finder must not ask the question
      find.addEventListener("keydown", function (event) {
        if (event.key === "Enter") event.preventDefault();
      });
    }
    var clear = el("doc-filter-clear");
    if (clear) {
      clear.addEventListener("click", function () {
        form.querySelectorAll('input[name="document_ids"]').forEach(function (box) {
          box.checked = false;
        });
        updateFilterSummary();
      });
    }
    // A citation link moves focus to its source, so keyboard users land where they clicked.
    answerText.addEventListener("click", function (event) {
      var link = event.target.closest && event.target.closest("a[href^='#source-']");
      if (!link) return;
      var target = document.getElementById(link.getAttribute("href").slice(1));
      if (target) {
        event.preventDefault();
        target.focus();
        target.scrollIntoView({ block: "nearest", behavior: "smooth" });
        target.classList.remove("is-flashed");
        void target.offsetWidth;
        target.classList.add("is-flashed");
      }
    });
  }

  window.RagsiteAsk = {
    createSseParser: createSseParser,
    appendHighlighted: appendHighlighted,
    renderAnswer: renderAnswer,
    readableErrors: readableErrors,
    safeUrl: safeUrl,
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", initPage);
  else initPage();
})();
