// expect: import-not-allowed@4:21, import-not-allowed@5:20, import-not-allowed@6:26
// manifest: ui:window
import { ui } from '@llm-os/sdk';
import * as fs from 'fs';
import lodash from "lodash";
export { readFile } from 'node:fs';
export default function App() { return ui.Window({ title: 'x' }, []); }
