// Jest setup provided by Grafana scaffolding
import './.config/jest-setup';

// @grafana/ui's Combobox sizes its menu with a canvas' measureText; jsdom has no canvas, and the
// scaffold's stub returns no context at all.
HTMLCanvasElement.prototype.getContext = () => ({ measureText: (text) => ({ width: String(text).length * 7 }) });

// The first render of a page with @grafana/ui takes longer than the default 1 s wait in jsdom on a
// loaded CI machine; tests wait for what the user would see, up to 10 s.
import { configure } from '@testing-library/react';
configure({ asyncUtilTimeout: 10000 });
