// Where the stack is, fixed at build time (Vite replaces import.meta.env.VITE_* when it builds).
// The defaults are `make run`'s: the service on 127.0.0.1:8000, the emulator on 127.0.0.1:4100.
const serviceUrl = import.meta.env.VITE_SERVICE_URL || 'http://127.0.0.1:8000';
const emulatorUrl = new URL(import.meta.env.VITE_EMULATOR_URL || 'http://127.0.0.1:4100');

/** The token service's origin (and path prefix, if any), without a trailing slash. */
export const SERVICE_URL = serviceUrl.replace(/\/+$/, '');

/** What <WorkOsWidgets> needs to reach the emulator instead of api.workos.com. */
export const WORKOS_API = {
  apiHostname: emulatorUrl.hostname,
  port: emulatorUrl.port ? Number(emulatorUrl.port) : null,
  https: emulatorUrl.protocol === 'https:',
};
