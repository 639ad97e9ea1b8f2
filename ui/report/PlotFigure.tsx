// A chart: Observable Plot draws an SVG into the figure; it is redrawn when the page width changes.
import * as Plot from "@observablehq/plot";
import { useEffect, useRef, useState } from "preact/hooks";
import type { PlotOptions } from "./charts.js";

interface Props {
  name: string;
  title: string;
  caption: string;
  options: (width: number) => PlotOptions;
}

function usePageWidth(): number {
  const [w, setW] = useState(() => document.documentElement.clientWidth);
  useEffect(() => {
    const on = () => setW(document.documentElement.clientWidth);
    addEventListener("resize", on);
    return () => removeEventListener("resize", on);
  }, []);
  return w;
}

export function PlotFigure({ name, title, caption, options }: Props) {
  const host = useRef<HTMLDivElement>(null);
  // a page measured before layout reports a width near 0: never draw narrower than a phone
  const width = Math.max(300, Math.min(1100, usePageWidth() - 40));
  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const chart = Plot.plot({ ...options(width), ariaLabel: title, ariaDescription: caption });
    el.replaceChildren(chart);
    return () => chart.remove();
  }, [width, options]);
  return (
    <figure class="chart" data-chart={name}>
      <h3>{title}</h3>
      <div ref={host} />
      <figcaption>{caption}</figcaption>
    </figure>
  );
}
