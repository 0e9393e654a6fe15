// Building the page from data: every string goes in as text (textContent, text nodes,
// setAttribute), never as markup. No innerHTML anywhere in this page.

export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") element.className = value;
    else if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

export function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

// Text that came from an uploader: isolated, so that right-to-left marks or overrides in it
// cannot reorder the page around it.
export function userText(text, props = {}) {
  return h("bdi", { class: "user-text", ...props }, String(text));
}

export function replaceChildren(element, ...children) {
  element.replaceChildren();
  return append(element, children);
}

export function link(href, ...children) {
  return h("a", { href, "data-nav": true }, ...children);
}
