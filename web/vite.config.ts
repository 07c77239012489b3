import { defineConfig } from "vite";

// The server serves dist/index.html at "/" and dist/assets at "/assets".
export default defineConfig({
  base: "/",
  build: {
    outDir: "../src/unitledger/web/dist",
    emptyOutDir: true,
    assetsDir: "assets",
    // ECharts is the bulk of the bundle; it is tree-shaken to the charts we draw.
    chunkSizeWarningLimit: 900,
  },
  server: {
    // `npm run dev` against `unitledger serve` on its default port.
    proxy: { "/api": "http://127.0.0.1:8417" },
  },
});
