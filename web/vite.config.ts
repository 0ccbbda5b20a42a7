import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The built UI is served by `cairn serve` from src/cairn/server/static: index.html at `/`
// and the bundle under /assets/. Paths are relative ("./assets/...") so it works there.
// `npm run dev` proxies the API (and its WebSocket) to a server on 127.0.0.1:6789.
export default defineConfig({
  base: "./",
  plugins: [react()],
  build: {
    outDir: "../src/cairn/server/static",
    emptyOutDir: true,
    assetsDir: "assets",
    chunkSizeWarningLimit: 1000,
  },
  server: {
    port: 5173,
    proxy: {
      "/api": { target: "http://127.0.0.1:6789", changeOrigin: true, ws: true },
    },
  },
});
