/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** The token service's URL; default `make run`'s http://127.0.0.1:8000. */
  readonly VITE_SERVICE_URL?: string;
  /** The emulator's URL (where <WorkOsWidgets> sends its API calls); default http://127.0.0.1:4100. */
  readonly VITE_EMULATOR_URL?: string;
}

interface ImportMeta {
  readonly env: ImportMetaEnv;
}
