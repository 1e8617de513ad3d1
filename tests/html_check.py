"""Every HTML page the tests render goes through a strict HTML5 parser (html5lib):
zero parse errors and zero duplicate ids, or the test fails naming them."""
from collections import Counter

import html5lib


def html_problems(text: str) -> list:
    """Parse errors (line:column code) and duplicate ids of a page or a fragment."""
    parser = html5lib.HTMLParser(tree=html5lib.getTreeBuilder("etree"), namespaceHTMLElements=False)
    whole = text.lstrip()[:15].lower().startswith("<!doctype")
    tree = parser.parse(text) if whole else parser.parseFragment(text)
    lines = text.splitlines()
    problems = []
    for (line, column), code, data in parser.errors:
        source = lines[line - 1].strip()[:160] if 0 < line <= len(lines) else ""
        problems.append(f"line {line}:{column} {code} {data or ''} :: {source}")
    ids = Counter(element.get("id") for element in tree.iter() if isinstance(element.tag, str) and element.get("id"))
    problems += [f"duplicate id {name!r} ({count} times)" for name, count in ids.items() if count > 1]
    return problems


def assert_valid_html(text: str, where: str = "") -> None:
    problems = html_problems(text)
    assert not problems, f"HTML problems in {where}:\n" + "\n".join(problems)
