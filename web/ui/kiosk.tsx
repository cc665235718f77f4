/**
 * Entry point of the kiosk page (`/`): bundled to `/assets/kiosk.js` by `deno task bundle`.
 *
 * @module
 */
import { render } from "preact";
import { ApiClient } from "./api_client.ts";
import { httpKioskApi } from "./kiosk/kiosk_api.ts";
import { KioskApp } from "./kiosk/kiosk_app.tsx";
import { Purchase } from "./kiosk/purchase.ts";
import { LiveStore } from "./live_store.ts";
import { setupPage } from "./page_setup.ts";
import baseCss from "./styles/base.css" with { type: "text" };
import kioskCss from "./styles/kiosk.css" with { type: "text" };

setupPage("kiosk", baseCss, kioskCss);

const live = new LiveStore();
const api = httpKioskApi(new ApiClient(), (bay) => live.applyMachine(bay));
const purchase = new Purchase({ api, live });
live.start();
purchase.start();
const root = document.getElementById("app");
if (!root) throw new Error("kiosk.js: the page has no #app element");
render(<KioskApp live={live} purchase={purchase} />, root);
