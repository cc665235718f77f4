/**
 * Entry point of the admin portal (`/admin`): bundled to `/assets/admin.js` by
 * `deno task bundle`.
 *
 * @module
 */
import { render } from "preact";
import { AdminApi } from "./admin/admin_api.ts";
import { AdminApp } from "./admin/admin_app.tsx";
import { AuthState } from "./admin/auth_state.ts";
import { ApiClient } from "./api_client.ts";
import { LiveStore } from "./live_store.ts";
import { setupPage } from "./page_setup.ts";
import adminCss from "./styles/admin.css" with { type: "text" };
import baseCss from "./styles/base.css" with { type: "text" };

setupPage("admin", baseCss, adminCss);

let auth: AuthState | null = null;
const client = new ApiClient({ onUnauthorized: () => auth?.expired() });
const api = new AdminApi(client);
auth = new AuthState(api);
const live = new LiveStore();
const root = document.getElementById("app");
if (!root) throw new Error("admin.js: the page has no #app element");
render(<AdminApp auth={auth} api={api} live={live} />, root);
void auth.check();
