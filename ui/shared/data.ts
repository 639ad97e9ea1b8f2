// The JSON a page was served with (web/page.ts puts it in #safesteer-data).
export function pageData<T>(): T {
  const el = document.getElementById("safesteer-data");
  return JSON.parse(el?.textContent || "null") as T;
}
