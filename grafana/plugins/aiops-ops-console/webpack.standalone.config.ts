/*
 * The standalone console: the same pages as the Grafana app, bundled with React and @grafana/ui
 * (which Grafana provides to the plugin at run time), for the incident-api to serve at /console.
 */
import path from 'path';
import CopyWebpackPlugin from 'copy-webpack-plugin';
import HtmlWebpackPlugin from 'html-webpack-plugin';
import TerserPlugin from 'terser-webpack-plugin';
import webpack, { type Configuration } from 'webpack';

const OUT_DIR = 'dist-standalone';
const PUBLIC_PATH = '/console/';

type Env = Record<string, string | boolean | undefined>;

const config = (env: Env): Configuration => {
  const production = Boolean(env.production);
  return {
    mode: production ? 'production' : 'development',
    context: path.resolve(process.cwd(), 'src'),
    entry: { console: './standalone/index.tsx' },
    devtool: production ? false : 'eval-source-map',
    module: {
      rules: [
        {
          exclude: /node_modules/,
          test: /\.[tj]sx?$/,
          use: {
            loader: 'swc-loader',
            options: {
              jsc: {
                baseUrl: path.resolve(process.cwd(), 'src'),
                target: 'es2020',
                parser: { syntax: 'typescript', tsx: true, decorators: false, dynamicImport: true },
                transform: { react: { runtime: 'classic' } },
              },
            },
          },
        },
        { test: /\.css$/, use: ['style-loader', 'css-loader'] },
        { test: /\.(png|jpe?g|gif|svg|woff2?|eot|ttf|otf)$/, type: 'asset/resource' },
      ],
    },
    output: {
      clean: true,
      path: path.resolve(process.cwd(), OUT_DIR),
      publicPath: PUBLIC_PATH,
      // Content hashes in the names: the incident-api can let browsers cache them for good.
      filename: 'assets/[name].[contenthash:12].js',
      chunkFilename: 'assets/[name].[contenthash:12].js',
      assetModuleFilename: 'assets/[name].[contenthash:12][ext]',
    },
    optimization: {
      minimize: production,
      minimizer: [new TerserPlugin({ extractComments: false })],
      splitChunks: { chunks: 'all', cacheGroups: { vendors: { test: /node_modules/, name: 'vendor' } } },
    },
    performance: { hints: false },
    plugins: [
      // Grafana serves @grafana/ui's icons to plugins; standalone, the console serves them itself.
      new CopyWebpackPlugin({
        patterns: [
          {
            from: path.resolve(process.cwd(), 'node_modules/@grafana/ui/dist/public/img/icons'),
            to: 'build/img/icons',
          },
        ],
      }),
      new HtmlWebpackPlugin({ template: './standalone/index.html', filename: 'index.html', favicon: './img/logo.svg' }),
      // Some of @grafana/ui's dependencies read process.env at run time; a browser has none.
      new webpack.DefinePlugin({
        'process.env': JSON.stringify({ NODE_ENV: production ? 'production' : 'development' }),
      }),
    ],
    resolve: {
      extensions: ['.js', '.jsx', '.ts', '.tsx'],
      modules: [path.resolve(process.cwd(), 'src'), 'node_modules'],
      fallback: { fs: false, path: false, os: false },
    },
  };
};

export default config;
