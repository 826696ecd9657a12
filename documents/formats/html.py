"""HTML files: lxml parses them (libxml2's HTML parser: tag soup recovered, no network, nothing
nested past 256 levels); h1-h6, and the terms of definition lists (a FAQ's questions, a manual's
options), start sections. Navigation, headers without a heading, footers, tables of contents,
scripts and styles are left out of the text.

Each section's anchor is an id the original carries (the heading's own, an empty anchor element
just before it, or the enclosing element's whose first heading it is), else a slug; html_sanitise
gives the headings without one that slug, so a citation opens the served copy where it points."""

import re
from documents.formats.base import Anchors, ExtractionError, HeadingPath, Section, SectionExtractor, heading_slug, one_line
from documents.formats.detect import text_decode

HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
TERM_LEVEL = 7  # a definition list's term sits below every heading (deeper in nested lists)
# Elements whose content is never text a question is answered from.
SKIPPED = {"head", "script", "style", "noscript", "template", "nav", "footer", "aside", "form", "button",
           "select", "textarea", "svg", "math", "iframe", "object", "canvas", "audio", "video"}
# Class and id words of navigation and page furniture (matched whole, or as a hyphenated part):
# texinfo's "header" (Next/Previous/Up links) and "contents", asciidoc's "toc" and "footer".
BOILERPLATE_WORDS = {"nav", "navbar", "navigation", "menu", "breadcrumb", "breadcrumbs", "footer", "sidebar",
                     "toc", "contents", "skiplink"}
# Words of an element that is furniture only when it holds no heading (a site's banner, texinfo's
# navigation line) and content when it does (an article's header with its title).
HEADER_WORDS = {"header", "masthead", "banner"}
ROLES_SKIPPED = {"navigation", "contentinfo", "search", "complementary"}
BLOCKS = {"p", "div", "li", "dd", "dt", "tr", "pre", "blockquote", "table", "ul", "ol", "dl", "section", "article",
          "main", "br", "hr", "figure", "figcaption", "caption", "address", "details", "summary", "header",
          *HEADINGS}
_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.I)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


def html_parse(data: bytes, *, filename: str):
    """The document's root element; ExtractionError when it is nested too deep to read whole."""
    import lxml.html

    parser = lxml.html.HTMLParser(remove_comments=True, remove_pis=True, no_network=True, default_doctype=False)
    try:
        root = lxml.html.document_fromstring(_decoded(data, filename), parser=parser)
    except Exception as exc:  # lxml's ParserError: nothing but white space or comments
        raise ExtractionError(f"{filename} holds no HTML content ({exc})") from exc
    for error in parser.error_log:
        if "Excessive depth" in error.message or "ERR_RESOURCE_LIMIT" in str(error.type_name):
            raise ExtractionError(
                f"{filename} is nested more than 256 elements deep and cannot be read whole (a damaged or hostile page)"
            )
    anchors_assign(root)
    return root


def _decoded(data: bytes, filename: str) -> str:
    """The page as text: in the charset its meta element names, else as text files are read."""
    declared = _CHARSET.search(data[:4096])
    if declared:
        try:
            return _XML_DECLARATION.sub("", data.decode(declared.group(1).decode("ascii"), "replace"))
        except LookupError:
            pass
    try:
        text, _ = text_decode(data)
    except ExtractionError as exc:
        raise ExtractionError(f"{filename}: {exc}") from None
    return _XML_DECLARATION.sub("", text)


def _is_heading(element) -> bool:
    return element.tag in HEADINGS or element.tag == "dt"


def anchors_assign(root) -> None:
    """Give every heading (and definition term) the anchor its section is cited by, as the
    `data-anchor` attribute, and an id of that name where the page has none for it. The same for
    the extractor and the sanitised copy, so the anchor a source names is there."""
    existing = {value for value in root.xpath("//@id")}
    anchors, claimed = Anchors(existing), set()
    for element in root.iter("h1", "h2", "h3", "h4", "h5", "h6", "dt"):
        anchor = _own_anchor(element, claimed)
        for ancestor in element.iterancestors():
            claimed.add(ancestor)
        if anchor is None:
            anchor = anchors.unique(heading_slug(element.text_content()))
            element.set("id", anchor)
        element.set("data-anchor", anchor)


def _own_anchor(element, claimed: set) -> str | None:
    """An id the page gives this heading: its own, an empty element's just before it, or the
    nearest enclosing element's that holds no earlier heading."""
    if element.get("id"):
        return element.get("id")
    before = element.getprevious()
    if before is not None and before.get("id") and len(before) == 0 and not (before.text or "").strip():
        if not (before.tail or "").strip():
            return before.get("id")
    for ancestor in element.iterancestors():
        if ancestor in claimed or ancestor.tag in ("body", "html"):
            break
        if ancestor.get("id"):
            return ancestor.get("id")
    return None


def _words(element) -> set[str]:
    values = (element.get("class") or "").lower().split() + (element.get("id") or "").lower().split()
    return {part for value in values for part in (value, *re.split(r"[-_]", value))}


def _skipped(element) -> bool:
    tag = element.tag if isinstance(element.tag, str) else ""
    if tag in SKIPPED or (element.get("role") or "").lower() in ROLES_SKIPPED:
        return True
    if tag == "a" and (element.get("href") or "").startswith("#") and (element.text or "").strip() in ("¶", "§"):
        return True  # a heading's copy-link mark
    words = _words(element)
    if words & BOILERPLATE_WORDS:
        return True
    if tag == "header" or words & HEADER_WORDS:
        return not element.xpath(".//h1|.//h2|.//h3|.//h4|.//h5|.//h6")
    return False


class _Sections:
    """Builds sections as the walk meets text, headings and block boundaries."""

    def __init__(self):
        self.path = HeadingPath()
        self.current = Section(path=(), anchor="")
        self.done: list[Section] = [self.current]
        self.line: list[str] = []
        self.dl_depth = 0

    def text(self, text: str | None, *, pre: bool) -> None:
        if not text:
            return
        if pre and "\n" in text:
            first, *rest = text.split("\n")
            self.line.append(first)
            for line in rest:
                self.end_line()
                self.line.append(line)
        else:
            self.line.append(text)

    def end_line(self) -> None:
        if self.line:
            self.current.paragraphs.append("".join(self.line))
            self.line = []

    def heading(self, element) -> None:
        self.end_line()
        level = HEADINGS.get(element.tag, TERM_LEVEL + self.dl_depth)
        heading = one_line(element.text_content()).rstrip(" ¶")  # texinfo's and Sphinx's copy-link mark
        if not heading:
            return
        self.current = Section(path=self.path.enter(level, heading), anchor=element.get("data-anchor", ""))
        self.done.append(self.current)


def html_sections(root) -> list[Section]:
    """The page's sections in reading order (iterative: no recursion, whatever the nesting)."""
    from lxml import etree

    body = root.find("body") if root.find("body") is not None else root
    built, skipped = _Sections(), set()
    pre_depth = 0
    walker = etree.iterwalk(body, events=("start", "end"))
    for event, element in walker:
        if not isinstance(element.tag, str):
            continue
        pre = pre_depth > 0
        if event == "start":
            if element is not body and _skipped(element):
                skipped.add(element)
                walker.skip_subtree()
            elif _is_heading(element):
                built.heading(element)
            elif element.tag in BLOCKS:
                built.end_line()
            if element not in skipped:
                built.dl_depth += element.tag == "dl"
                pre_depth += element.tag == "pre"
                built.text(element.text, pre=pre_depth > 0)
            continue
        if element.tag in BLOCKS:
            built.end_line()
        elif element.tag in ("td", "th"):
            built.line.append(" ")
        if element not in skipped:
            built.dl_depth -= element.tag == "dl"
            pre_depth -= element.tag == "pre"
        if element is not body:
            built.text(element.tail, pre=pre)
    built.end_line()
    return built.done


class HtmlExtractor(SectionExtractor):
    format = "html"

    def read(self, path, *, filename: str) -> tuple[list[Section], str, list[str]]:
        with open(path, "rb") as handle:
            root = html_parse(handle.read(), filename=filename)
        return html_sections(root), html_title(root), []


def html_title(root) -> str:
    title = root.find(".//title")
    return one_line(title.text_content(), 255) if title is not None else ""


# What the served copy of an HTML document keeps: no element that runs, loads or submits anything,
# and of the attributes only those that describe (links only to a place in the page, or out by
# http(s) or mailto: a navigation, never a load).
REMOVED = {"script", "style", "iframe", "frame", "frameset", "object", "applet", "button", "select", "textarea",
           "noscript", "template", "svg", "math", "audio", "video", "canvas", "picture", "portal", "head"}
# Elements without content of their own: removed, and what libxml2 (which does not know all of
# them as empty) nested inside them kept.
UNWRAPPED = {"embed", "img", "input", "link", "meta", "base", "source", "track", "param", "form", "keygen"}
KEPT_ATTRIBUTES = {"id", "class", "href", "title", "alt", "colspan", "rowspan", "lang", "dir", "start", "scope", "headers"}
_SAFE_HREF = re.compile(r"^(?:#|https?://|mailto:)", re.I)
SERVED_STYLE = (
    "body{max-width:52rem;margin:2rem auto;padding:0 1rem;font:16px/1.55 system-ui,sans-serif;color:#222}"
    "pre{white-space:pre-wrap;background:#f6f6f6;padding:.5rem}:target{background:#fff3b0}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .4rem}"
)


def html_sanitise(data: bytes, *, filename: str) -> str:
    """The page as it is served to a reader who opens a citation: its headings carry the anchors
    sources name (anchors_assign), and nothing is left that could run script or load anything
    (served under a Content-Security-Policy that forbids both, as a sandboxed origin)."""
    import lxml.html
    from lxml import etree

    root = html_parse(data, filename=filename)
    title = html_title(root)
    body = root.find("body") if root.find("body") is not None else root
    doomed = [element for element in body.iter() if not isinstance(element.tag, str) or element.tag in REMOVED]
    for element in doomed:
        if element.getparent() is not None:
            element.drop_tree()  # its tail stays in the page
    for element in [element for element in body.iter() if element.tag in UNWRAPPED]:
        element.drop_tag()
    for element in body.iter():
        for name in list(element.attrib):
            value = element.attrib[name]
            if name not in KEPT_ATTRIBUTES or (name == "href" and not _SAFE_HREF.match(value.strip())):
                del element.attrib[name]
    body.tag = "body"
    for name in list(body.attrib):
        del body.attrib[name]
    content = lxml.html.tostring(body, encoding="unicode", method="html")
    escaped = etree.Element("title")
    escaped.text = title
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        + lxml.html.tostring(escaped, encoding="unicode")
        + f"<style>{SERVED_STYLE}</style></head>\n{content}\n</html>\n"
    )
