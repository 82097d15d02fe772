import { STANDALONE_BASENAME } from './paths';

// @grafana/ui loads its icons from `${__grafana_public_path__}build/img/icons/`, which Grafana
// sets; the standalone build ships those icons under /console/build/img/icons/ (see
// webpack.standalone.config.ts) and points the same variable there.
(window as unknown as { __grafana_public_path__: string }).__grafana_public_path__ = `${STANDALONE_BASENAME}/`;
