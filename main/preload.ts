// Sandboxed preloads cannot be ES modules: scripts/build-main.mjs bundles this into dist/main/preload.cjs.
import { contextBridge, ipcRenderer } from 'electron';
import { createBridge } from './admin-bridge.ts';

contextBridge.exposeInMainWorld('cleaver', createBridge(ipcRenderer));
