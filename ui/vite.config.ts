// The browser front ends (playground, report), each built into one script and one style sheet
// (dist/ui/<app>.js, .css) that the server and the report writer inline into a single HTML page:
// no chunks, no asset files, nothing fetched at run time. `vite build --mode playground|report`.
import { defineConfig } from "vite";

export default defineConfig(({ mode }) => {
  if (mode !== "playground" && mode !== "report") throw new Error(`build with --mode playground or --mode report, not ${mode}`);
  return {
    root: import.meta.dirname,
    logLevel: "warn",
    publicDir: false,
    build: {
      outDir: "../dist/ui",
      emptyOutDir: false,
      target: "es2022",
      assetsInlineLimit: Number.POSITIVE_INFINITY,
      lib: { entry: `${mode}/main.tsx`, formats: ["iife"], name: `safesteer_${mode}`, fileName: () => `${mode}.js`, cssFileName: mode },
    },
  };
});
